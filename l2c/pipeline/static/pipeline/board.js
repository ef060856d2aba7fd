// Kanban board: drag a card to another column to move the opportunity (POST /pipeline/move/ via HTMX).
// The server answers the card (and the two column heads, out of band). On a requirement error it
// answers the card, still in its old stage, with the error and a small form for the missing fields;
// `reconcile` then puts every card back in the column of its data-stage.
(function () {
  "use strict";

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
    } catch (e) { /* fall through to the cookie */ }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function reconcile(board) {
    board.querySelectorAll(".opp-card").forEach(function (card) {
      var column = board.querySelector('.cards[data-stage="' + card.dataset.stage + '"]');
      if (column && card.parentElement !== column) column.prepend(card);
    });
  }

  function showError(board, message) {
    var box = document.getElementById("board-error");
    if (!box) return;
    box.textContent = message || board.dataset.errorText;
    box.hidden = false;
  }

  function init() {
    var board = document.getElementById("board");
    if (!board || typeof Sortable === "undefined" || typeof htmx === "undefined") return;

    board.querySelectorAll(".cards").forEach(function (list) {
      Sortable.create(list, {
        group: "board",
        animation: 150,
        filter: ".card-error, input, select, textarea, button",
        preventOnFilter: false,
        onEnd: function (evt) {
          if (evt.from === evt.to) return;
          var card = evt.item;
          var values = { opportunity: card.dataset.id, stage: evt.to.dataset.stage };
          if (board.dataset.owner) values.owner = board.dataset.owner;
          card.classList.add("is-moving");
          htmx.ajax("POST", board.dataset.moveUrl, {
            source: card, target: card, swap: "outerHTML", values: values,
            headers: { "X-CSRFToken": csrfToken() },
          });
        },
      });
    });

    // A requirement error (422) or a refused move (403/409) comes back as the card with its message: show it.
    document.body.addEventListener("htmx:beforeSwap", function (evt) {
      var status = evt.detail.xhr.status;
      if (board.contains(evt.detail.target) && [403, 409, 422].indexOf(status) !== -1) {
        evt.detail.shouldSwap = true;
        evt.detail.isError = false;
      }
    });
    document.body.addEventListener("htmx:afterSettle", function () { reconcile(board); });
    document.body.addEventListener("htmx:responseError", function (evt) {
      if (!board.contains(evt.detail.elt)) return;
      reconcile(board);
      showError(board);
      board.querySelectorAll(".is-moving").forEach(function (c) { c.classList.remove("is-moving"); });
    });
    document.body.addEventListener("htmx:sendError", function (evt) {
      if (!board.contains(evt.detail.elt)) return;
      reconcile(board);
      showError(board);
    });
    board.addEventListener("click", function (evt) {
      var dismiss = evt.target.closest("[data-dismiss-error]");
      if (dismiss) dismiss.closest(".card-error").remove();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
