"""The web app's static files (`assets`) and page templates."""
