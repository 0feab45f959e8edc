from tests.snapshots import write

write()
