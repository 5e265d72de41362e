"""One module of auto-checked questions per lesson: `from course_lib.exercises.ex00_setup import *`."""
