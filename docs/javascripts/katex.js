// Render every formula with the site's own KaTeX, on the first load and after each instant
// navigation: \( \) and \[ \] from Markdown pages (pymdownx.arithmatex), $ and $$ from notebooks.
// A notebook cell's hidden source, which its copy button copies, is code: left as it is.
// A formula a notebook cell displays (IPython's Math: "$\displaystyle ...$") is display math,
// in its own box, at the size of the formula summary's.
document$.subscribe(({ body }) => {
  for (const output of body.querySelectorAll(".jp-RenderedLatex")) {
    const tex = output.textContent.trim();
    if (/^\$[^$]/.test(tex) && /[^$]\$$/.test(tex)) output.textContent = `$${tex}$`;
  }
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    ignoredClasses: ["clipboard-copy-txt"],
  });
  placeEquationNumbers(body);
});

// An equation number (\tag) sits at the right of its formula's box, where KaTeX puts it, while
// the formula leaves it room; where the formula needs the box's whole width (a phone, a long
// formula), the number goes on a line of its own under it.  Measured again whenever the width
// changes, and when a tab or a folded block shows formulas that were hidden.
function placeEquationNumbers(root) {
  for (const display of root.querySelectorAll(".katex-display")) {
    const tag = display.querySelector(".katex-html > .katex-tag");
    if (!tag) continue;
    display.classList.remove("convops-tag-apart");
    const t = tag.getBoundingClientRect();
    if (t.width === 0) continue;  // not shown: placed when it is
    const covered = [...tag.parentElement.querySelectorAll(":scope > .katex-base")].some(base => {
      const r = base.getBoundingClientRect();
      return r.width > 0 && r.right > t.left && r.left < t.right;
    });
    if (covered) display.classList.add("convops-tag-apart");
  }
}
window.addEventListener("resize", () => placeEquationNumbers(document.body));
for (const event of ["change", "toggle"])
  document.addEventListener(event, () => requestAnimationFrame(() => placeEquationNumbers(document.body)), true);
