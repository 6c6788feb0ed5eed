"""The editor side without Qt: timelines, stems, batch runs and the command line."""
