// Signature pad for the seal editor: draw with mouse, pen or finger on a canvas
// marked data-signature-pad; the page reads it back as a PNG data URL.
(function () {
  function blank(canvas) {
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    canvas.dataset.empty = "1";
  }

  function setup(canvas) {
    if (canvas.dataset.ready) return;
    canvas.dataset.ready = "1";
    blank(canvas);
    const ctx = canvas.getContext("2d");
    let last = null;
    const point = (event) => {
      const box = canvas.getBoundingClientRect();
      return [
        ((event.clientX - box.left) * canvas.width) / box.width,
        ((event.clientY - box.top) * canvas.height) / box.height,
      ];
    };
    canvas.addEventListener("pointerdown", (event) => {
      last = point(event);
      canvas.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!last) return;
      const next = point(event);
      ctx.strokeStyle = "#111111";
      ctx.lineWidth = 7;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(last[0], last[1]);
      ctx.lineTo(next[0], next[1]);
      ctx.stroke();
      last = next;
      canvas.dataset.empty = "0";
      event.preventDefault();
    });
    const stop = () => {
      last = null;
    };
    canvas.addEventListener("pointerup", stop);
    canvas.addEventListener("pointercancel", stop);
  }

  window.hisPad = {
    attach() {
      document.querySelectorAll("canvas[data-signature-pad]").forEach(setup);
    },
    clear(id) {
      const canvas = document.getElementById(id);
      if (canvas) blank(canvas);
    },
    data(id) {
      const canvas = document.getElementById(id);
      if (!canvas || canvas.dataset.empty === "1") return "";
      return canvas.toDataURL("image/png");
    },
  };
  new MutationObserver(() => window.hisPad.attach()).observe(document.documentElement, {
    childList: true,
    subtree: true,
  });
})();
