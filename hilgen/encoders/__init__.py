"""Loading pretrained transformer encoders, shared by the taggers and the name ranker."""
