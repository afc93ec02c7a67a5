"""The audio-video agent: converts media with ffmpeg, speaks text (`tts`) and transcribes speech."""
