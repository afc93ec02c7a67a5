"""The web-scraper agent: `scrape` (main text + metadata) and `extract` (CSS selectors), SSRF-guarded."""
