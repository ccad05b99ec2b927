"""Provides the reads behind an Images tab (run and compare screens): a mixin of workers and handlers.

The panel asks (``ImagesPanel.KeyChosen`` / ``StepChosen``); a thread worker reads with its own
Store; the result goes back to the panel only if it is still the one wanted (a slider moved on
meanwhile: the older result is dropped).
"""

from __future__ import annotations

from typing import Any

from textual import work

from .. import reads
from ..messages import ImageKeyLoaded, ImageKeysLoaded, ImagesLoaded
from ..widgets.images_panel import ImagesPanel


class ImagesTab:
    """Mixed into a screen (which gives ``post_message``, ``query_one`` and ``tracker``) that
    shows an ``ImagesPanel`` of the runs ``image_run_ids``."""

    image_run_ids: list[str]
    tracker: Any  # the app (TrackerApp): open_store()
    _image_wanted: tuple[str, int | None] | None = None  # (key, step) asked for last

    @work(thread=True, exclusive=True, group="image-keys", exit_on_error=False)
    def read_image_keys(self) -> None:
        with self.tracker.open_store() as store:
            keys = reads.image_keys(store, self.image_run_ids)
        self.post_message(ImageKeysLoaded(keys))

    @work(thread=True, exclusive=True, group="image-key", exit_on_error=False)
    def read_image_key(self, key: str) -> None:
        with self.tracker.open_store() as store:
            steps, images = reads.image_key(store, self.image_run_ids, key)
        self.post_message(ImageKeyLoaded(key, steps, images))

    @work(thread=True, exclusive=True, group="image-step", exit_on_error=False)
    def read_images_at(self, key: str, step: int) -> None:
        with self.tracker.open_store() as store:
            images = reads.images_at(store, self.image_run_ids, key, step)
        self.post_message(ImagesLoaded(key, step, images))

    def on_image_keys_loaded(self, message: ImageKeysLoaded) -> None:
        self.query_one(ImagesPanel).set_keys(message.keys)

    def on_images_panel_key_chosen(self, event: ImagesPanel.KeyChosen) -> None:
        self._image_wanted = (event.key, None)
        self.read_image_key(event.key)

    def on_images_panel_step_chosen(self, event: ImagesPanel.StepChosen) -> None:
        self._image_wanted = (event.key, event.step)
        self.read_images_at(event.key, event.step)

    def on_image_key_loaded(self, message: ImageKeyLoaded) -> None:
        if self._image_wanted == (message.key, None):
            self.query_one(ImagesPanel).show_key(message.key, message.steps, message.images)

    def on_images_loaded(self, message: ImagesLoaded) -> None:
        if self._image_wanted == (message.key, message.step):
            self.query_one(ImagesPanel).show_step(message.step, message.images)
