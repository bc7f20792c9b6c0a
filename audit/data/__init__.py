"""Data every suite shares: the dataset resolver, labelled-data loading, example ids, shared tasks, bundled files, prepare."""
