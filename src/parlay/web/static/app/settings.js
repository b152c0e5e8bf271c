// The theme (applied at start) and the way into the settings dialog, whose code
// (settings/) loads on first use.

const THEME_KEY = "parlay.theme";

/** "light" | "dark" | "system"; anything else (no stored preference) keeps the current one. */
export function applyTheme(theme) {
  if (theme === "light" || theme === "dark") {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  } else if (theme === "system") {
    delete document.documentElement.dataset.theme;
    localStorage.removeItem(THEME_KEY);
  }
}

/** Open Settings; `tab`: general | memory | tools | account; `memoryId` shows that memory. */
export async function openSettings(app, options = {}) {
  const { showSettings } = await import("./settings/dialog.js");
  return showSettings(app, options);
}
