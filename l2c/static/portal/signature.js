/* Signature pad for the portal's "Accept and sign" form: draw with mouse, pen or finger (pointer events,
   with touch events as a fallback); the drawing is sent as a PNG data URL in the hidden field
   "drawn_signature". No libraries, no network. */
(function () {
  "use strict";
  var canvas = document.getElementById("signature-pad");
  var form = document.getElementById("sign-form");
  if (!canvas || !form) { return; }
  var field = form.querySelector("input[name=drawn_signature]");
  var clear = document.getElementById("signature-clear");
  var ctx = canvas.getContext("2d");
  var drawing = false;
  var inked = false;
  var last = null;

  function setup() {
    // match the canvas' pixels to its displayed size (sharp lines on high-DPI screens)
    var ratio = Math.max(window.devicePixelRatio || 1, 1);
    var rect = canvas.getBoundingClientRect();
    var keep = inked ? canvas.toDataURL("image/png") : null;
    canvas.width = Math.round(rect.width * ratio);
    canvas.height = Math.round(rect.height * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineWidth = 2.2;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#111827";
    if (keep) {
      var img = new Image();
      img.onload = function () { ctx.drawImage(img, 0, 0, rect.width, rect.height); };
      img.src = keep;
    }
  }

  function point(evt) {
    var rect = canvas.getBoundingClientRect();
    var src = evt.touches && evt.touches.length ? evt.touches[0] : evt;
    return { x: src.clientX - rect.left, y: src.clientY - rect.top };
  }

  function start(evt) {
    evt.preventDefault();
    drawing = true;
    last = point(evt);
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fill();
    inked = true;
  }

  function move(evt) {
    if (!drawing) { return; }
    evt.preventDefault();
    var p = point(evt);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
    inked = true;
  }

  function end() {
    if (!drawing) { return; }
    drawing = false;
    store();
  }

  function store() {
    field.value = inked ? canvas.toDataURL("image/png") : "";
  }

  if (window.PointerEvent) {
    canvas.addEventListener("pointerdown", function (evt) { canvas.setPointerCapture(evt.pointerId); start(evt); });
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  } else {
    canvas.addEventListener("mousedown", start);
    canvas.addEventListener("mousemove", move);
    window.addEventListener("mouseup", end);
    canvas.addEventListener("touchstart", start, { passive: false });
    canvas.addEventListener("touchmove", move, { passive: false });
    canvas.addEventListener("touchend", end);
  }
  if (clear) {
    clear.addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      inked = false;
      store();
    });
  }
  form.addEventListener("submit", store);
  window.addEventListener("resize", setup);
  setup();
  // after a refused attempt the page comes back with the drawing in the hidden field: show it again
  if (field.value.indexOf("data:image/png;base64,") === 0) {
    var previous = new Image();
    previous.onload = function () {
      var rect = canvas.getBoundingClientRect();
      ctx.drawImage(previous, 0, 0, rect.width, rect.height);
      inked = true;
    };
    previous.src = field.value;
  }
})();
