"""The engine: pure signal math, models and the request -> takes facade. Imports neither Qt nor OTIO."""
