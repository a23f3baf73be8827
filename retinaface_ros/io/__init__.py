"""Model files and other files on disk: state dicts (:mod:`.state_dicts`), model folders
(:mod:`.model_folder`), downloads (:mod:`.download`), atomic writes (:mod:`.atomic_files`), and videos /
image sequences read (:mod:`.frame_sequence`) and written (:mod:`.video_writer`)."""
