"""spotrun's agents: small HTTP services deployed on Cloud Run, one per engine family."""

# CLI name -> Python package. The names are the Cloud Run service names.
AGENTS: dict[str, str] = {
    "image-gen": "agents.image_gen",
    "web-scraper": "agents.web_scraper",
    "data-analysis": "agents.data_analysis",
    "audio-video": "agents.audio_video",
}
