"""Model files and other files on disk: state dicts (:mod:`.state_dicts`), model folders
(:mod:`.model_folder`), downloads (:mod:`.download`) and atomic writes (:mod:`.atomic_files`)."""
