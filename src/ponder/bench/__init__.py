"""`ponder bench NAME`: measured speed and memory, side by side with a peer in the same run."""
