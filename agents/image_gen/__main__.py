"""`python -m agents.image_gen`: run the image-gen agent on $PORT."""

from agents.image_gen.app import main

main()
