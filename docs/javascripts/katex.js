// Render every formula with the site's own KaTeX, on the first load and after each instant
// navigation: \( \) and \[ \] from Markdown pages (pymdownx.arithmatex), $ and $$ from notebooks.
// A notebook cell's hidden source, which its copy button copies, is code: left as it is.
document$.subscribe(({ body }) => {
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
