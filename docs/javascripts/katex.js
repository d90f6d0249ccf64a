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
});
