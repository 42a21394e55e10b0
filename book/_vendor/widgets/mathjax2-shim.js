// Written for this course (MIT), not vendored.
// The ipywidgets HTML manager typesets widget labels with MathJax 2's
// MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the book loads MathJax 3,
// which has no Hub. Forward those calls to MathJax 3's typesetPromise so that
// widgets render without errors. Loaded before embed.js, so this runs first on "load".
window.addEventListener("load", function () {
  var mj = window.MathJax;
  if (mj && !mj.Hub) {
    mj.Hub = {
      Queue: function (job) {
        var element = job && job[2];
        if (element && mj.typesetPromise) {
          mj.typesetPromise([element]).catch(function () {});
        }
      },
    };
  }
});
