"""`python -m agents.web_scraper`: run the web-scraper agent on $PORT."""

from agents.web_scraper.app import main

main()
