"""Offline speech recognition with pocketsphinx's bundled en-US model (fast to set up, low accuracy)."""

from __future__ import annotations

import io

WARNING = (
    "transcribed offline with pocketsphinx, whose accuracy on free speech is low — expect wrong words; "
    "a cloud engine (SPOTRUN_MEDIA_STT_ENGINE=openai|google) is far better"
)


def transcribe(pcm: bytes) -> str:
    """Blocking (run in a thread): 16 kHz mono s16le in, text out; one utterance per speech segment."""
    from pocketsphinx import Decoder, Segmenter

    decoder = Decoder(samprate=16000, loglevel="FATAL")
    words = []
    for segment in Segmenter(sample_rate=16000).segment(io.BytesIO(pcm)):
        decoder.start_utt()
        decoder.process_raw(segment.pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        if hyp is not None and hyp.hypstr.strip():
            words.append(hyp.hypstr.strip())
    return " ".join(words)
