#!/usr/bin/python3
"""Expand person-level gender labels (tests/data/lfw_gender_people.tsv) to
image rows (tests/data/lfw_gender.tsv).  Standard library only.

usage: make_lfw_gender.py IMAGES_DIR PEOPLE_TSV HEADER_TXT OUT_TSV
  IMAGES_DIR  lfw-devtrain/images (one folder per person)
  PEOPLE_TSV  name<TAB>gender, '#' comment lines ignored
  HEADER_TXT  comment header copied verbatim to the top of OUT_TSV
Each image of a labelled person becomes 'Name/Name_NNNN.jpg<TAB>gender';
people not in PEOPLE_TSV (excluded) produce no rows.
"""
import os
import sys


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    images, people_tsv, header_txt, out_tsv = argv[1:]
    labels = {}
    with open(people_tsv, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, gender = line.split("\t")
            if gender not in ("Woman", "Man"):
                sys.exit("bad gender %r for %s" % (gender, name))
            if name in labels:
                sys.exit("duplicate person %s" % name)
            labels[name] = gender
    rows = []
    for name in sorted(labels):
        d = os.path.join(images, name)
        if not os.path.isdir(d):
            sys.exit("no folder for %s" % name)
        for fn in sorted(os.listdir(d)):
            if fn.lower().endswith(".jpg"):
                rows.append("%s/%s\t%s" % (name, fn, labels[name]))
    with open(header_txt, encoding="utf-8") as f:
        header = f.read()
    with open(out_tsv, "w", encoding="utf-8") as f:
        f.write(header)
        for r in rows:
            f.write(r + "\n")
    n_w = sum(r.endswith("\tWoman") for r in rows)
    print("%d rows (%d Woman, %d Man)" % (len(rows), n_w, len(rows) - n_w))


if __name__ == "__main__":
    main(sys.argv)
