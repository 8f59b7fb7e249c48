"""Training and evaluation data: the demonstration world (`deltadiff.data.world`), clip datasets over folders and
manifests (`clips`), readers of published datasets (`readers`) and WebDataset shards (`shards`)."""
