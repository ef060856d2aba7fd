// Lead board: drag a card to another status column; the move is POSTed to the board's move URL (the same
// status service as the lead page). On success the server answers the card; on a refusal (an invalid status
// change, say) its message, and the card goes back to where it was.
(function () {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }

  function count(column, delta) {
    var badge = column.closest(".column").querySelector("[data-count]");
    if (badge) badge.textContent = String(Math.max(0, parseInt(badge.textContent, 10) + delta));
  }

  function init() {
    var board = document.getElementById("lead-board");
    if (!board || typeof Sortable === "undefined") return;
    var errorBox = document.getElementById("board-error");

    board.querySelectorAll(".cards").forEach(function (list) {
      Sortable.create(list, {
        group: "lead-board",
        animation: 150,
        onEnd: function (evt) {
          if (evt.from === evt.to) return;
          var card = evt.item, from = evt.from, oldIndex = evt.oldIndex;
          var body = new URLSearchParams({ lead: card.dataset.id, status: evt.to.dataset.status });
          card.classList.add("is-moving");
          errorBox.hidden = true;
          fetch(board.dataset.moveUrl, {
            method: "POST", body: body, credentials: "same-origin",
            headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
          }).then(function (response) {
            return response.text().then(function (text) {
              var plain = (response.headers.get("Content-Type") || "").indexOf("text/plain") === 0;
              if (!response.ok) throw new Error(plain ? text : "");
              var holder = document.createElement("div");
              holder.innerHTML = text.trim();
              card.replaceWith(holder.firstElementChild);
              count(from, -1);
              count(evt.to, +1);
            });
          }).catch(function (error) {
            card.classList.remove("is-moving");
            from.insertBefore(card, from.children[oldIndex] || null);
            errorBox.textContent = (error && error.message) || board.dataset.errorText;
            errorBox.hidden = false;
          });
        },
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
