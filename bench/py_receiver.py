#!/usr/bin/env python3
"""Baseline log receiver, the way a line-by-line Python service does it:
timestamp each line, write it as a JSON record, flush per line."""
import json
import sys
import time

def main():
    out = open(sys.argv[1], "a", encoding="utf-8")
    seq = 0
    for raw in sys.stdin.buffer:
        line = raw.rstrip(b"\n")
        try:
            rec = {"seq": seq, "t": time.time(), "data": line.decode("utf-8")}
        except UnicodeDecodeError:
            rec = {"seq": seq, "t": time.time(), "hex": line.hex()}
        out.write(json.dumps(rec) + "\n")
        out.flush()
        seq += 1
    out.close()
    print(seq)

if __name__ == "__main__":
    main()
