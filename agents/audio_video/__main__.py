"""`python -m agents.audio_video`: run the audio-video agent on $PORT."""

from agents.audio_video.app import main

main()
