#!/usr/bin/env python3
"""Write a primary.xml shaped like Fedora's (createrepo_c's layout): N
packages of ~3.3 KB each (Fedora 40's primary.xml is ~230 MB for ~70,000
packages), with descriptions, provides, requires and primary files.
Deterministic: the same N gives the same bytes.

usage: gen-primary.py N > primary.xml
"""
import hashlib
import sys

N = int(sys.argv[1])
out = sys.stdout
w = out.write
w('<?xml version="1.0" encoding="UTF-8"?>\n')
w('<metadata xmlns="http://linux.duke.edu/metadata/common" '
  'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">\n' % N)
words = ("library tool daemon support for the with and data files python perl "
         "bindings development headers documentation plugin module utilities "
         "runtime client server network graphics font kernel audio video "
         "codec parser compiler shell desktop theme icons locale").split()
# Descriptions vary like real ones: words drawn by a fixed generator, and
# escaped characters now and then.
seed = 12345
def rnd(n):
    global seed
    seed = (seed * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    return (seed >> 33) % n
def text(count):
    out = []
    for _ in range(count):
        k = rnd(len(words) + 3)
        out.append(words[k] if k < len(words) else ("&amp;", "&lt;X11&gt;", "%d" % rnd(100000))[k - len(words)])
    return " ".join(out)
for i in range(N):
    name = "%s-%s%d" % (words[rnd(len(words))], words[rnd(len(words))], i)
    digest = hashlib.sha256(name.encode()).hexdigest()
    arch = ("x86_64", "noarch", "i686")[i % 3]
    desc = text(70)
    w('<package type="rpm">\n')
    w('  <name>%s</name>\n  <arch>%s</arch>\n' % (name, arch))
    w('  <version epoch="0" ver="%d.%d.%d" rel="%d.fc40"/>\n' % (i % 7, i % 13, i % 5, i % 4 + 1))
    w('  <checksum type="sha256" pkgid="YES">%s</checksum>\n' % digest)
    w('  <summary>The %s %s</summary>\n' % (name, text(4)))
    w('  <description>%s\n%s</description>\n' % (desc, text(25)))
    w('  <packager>Fedora Project</packager>\n')
    w('  <url>https://example.org/projects/%s</url>\n' % name)
    w('  <time file="1713193444" build="17131%05d"/>\n' % (i % 100000))
    w('  <size package="%d" installed="%d" archive="%d"/>\n' % (10000 + i, 40000 + i, 41000 + i))
    w('  <location href="Packages/%s/%s-%d.%d.%d-%d.fc40.%s.rpm"/>\n'
      % (name[0], name, i % 7, i % 13, i % 5, i % 4 + 1, arch))
    w('  <format>\n    <rpm:license>MIT AND (GPL-2.0-or-later OR BSD-3-Clause)</rpm:license>\n')
    w('    <rpm:vendor>Fedora Project</rpm:vendor>\n    <rpm:group>Unspecified</rpm:group>\n')
    w('    <rpm:buildhost>buildvm-x86-%02d.iad2.fedoraproject.org</rpm:buildhost>\n' % (i % 40))
    w('    <rpm:sourcerpm>%s-1.0-1.fc40.src.rpm</rpm:sourcerpm>\n' % name)
    w('    <rpm:header-range start="4504" end="%d"/>\n' % (20000 + i))
    w('    <rpm:provides>\n')
    for k in range(6):
        w('      <rpm:entry name="%s(%s-%d)" flags="EQ" epoch="0" ver="1.0" rel="1.fc40"/>\n'
          % (name, words[rnd(len(words))], k))
    w('    </rpm:provides>\n    <rpm:requires>\n')
    for k in range(16):
        w('      <rpm:entry name="lib%s.so.%d()(64bit)"/>\n' % (words[rnd(len(words))], k))
    w('      <rpm:entry name="rtld(GNU_HASH)"/>\n      <rpm:entry name="glibc" flags="GE" epoch="0" ver="2.39" pre="1"/>\n')
    w('    </rpm:requires>\n')
    for k in range(4):
        w('    <file>/usr/bin/%s-%d</file>\n' % (name, k))
    w('    <file type="dir">/etc/%s</file>\n' % name)
    w('  </format>\n</package>\n')
w('</metadata>\n')
