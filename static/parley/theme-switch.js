// The theme switch in the top bar: system → light → dark, remembered in localStorage
// (theme.js applies it before the first paint).

const THEMES = ["system", "light", "dark"];

export function setUpThemeSwitch() {
  const button = document.getElementById("theme-button");
  const root = document.documentElement;
  const show = () => {
    button.textContent = `Theme: ${root.dataset.theme || "system"}`;
  };
  button.addEventListener("click", () => {
    const now = root.dataset.theme || "system";
    const next = THEMES[(THEMES.indexOf(now) + 1) % THEMES.length];
    if (next === "system") delete root.dataset.theme;
    else root.dataset.theme = next;
    try {
      if (next === "system") localStorage.removeItem("parley.theme");
      else localStorage.setItem("parley.theme", next);
    } catch {
      /* the choice lasts for this page */
    }
    show();
  });
  show();
}
