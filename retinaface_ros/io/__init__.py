"""Files on disk: state dicts (:mod:`.state_dicts`), model folders (:mod:`.model_folder`), downloads
(:mod:`.download`), atomic writes (:mod:`.atomic_files`), image files (:mod:`.image_files`, with
:mod:`.image_header`), .npz archives (:mod:`.numpy_archives`), and videos / image sequences read
(:mod:`.frame_sequence`) and written (:mod:`.video_writer`)."""
