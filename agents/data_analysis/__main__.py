"""`python -m agents.data_analysis`: run the data-analysis agent on $PORT."""

from agents.data_analysis.app import main

main()
