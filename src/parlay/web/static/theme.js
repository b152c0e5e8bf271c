// Applies the chosen theme before the first paint (a classic script, so it runs in <head>).
(function () {
  try {
    var theme = localStorage.getItem("parlay.theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage disabled: follow the system */ }
})();
