// Runs before the page is drawn (a classic script in <head>): applies the chosen theme so a
// dark-mode user never sees a light flash. "system" (no data-theme) follows prefers-color-scheme.
try {
  const theme = localStorage.getItem("parley.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch {
  /* storage refused: the system's choice */
}
