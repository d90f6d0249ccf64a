// A link to a formula inside a tab that is not shown (#conv2d-total-no-bias) shows that tab
// and scrolls to the formula, on load, after instant navigation and when the hash changes.
function showLinkedFormula() {
  const id = decodeURIComponent(location.hash.slice(1));
  const target = id && document.getElementById(id);
  const block = target && target.closest(".tabbed-block");
  if (!block) return;
  const index = Array.prototype.indexOf.call(block.parentElement.children, block);
  const input = block.closest(".tabbed-set").querySelectorAll(":scope > input")[index];
  if (!input.checked) input.click();
  target.scrollIntoView();
}
document$.subscribe(showLinkedFormula);
window.addEventListener("hashchange", showLinkedFormula);
