#!/usr/bin/python3
"""A case- and normalisation-insensitive file system for tests, as macOS and Windows
have by default: a passthrough FUSE mount of BACKING at MOUNT in which every name
is matched to an existing entry by Unicode NFC and case folding. Only for tests that
check larder never writes through a link, whatever a file system folds.

usage: casefold-fs.py BACKING MOUNT   (runs in the foreground until unmounted)
"""
import errno
import os
import sys
import unicodedata

from fusepy import FUSE, FuseOSError, Operations


def fold(name):
    return unicodedata.normalize('NFC', name).casefold()


class CaseFold(Operations):
    def __init__(self, root):
        self.root = root

    def _real(self, path, follow_last=True):
        """The backing path: each existing component by its folded name."""
        real = self.root
        for part in [p for p in path.split('/') if p]:
            try:
                names = os.listdir(real)
            except OSError:
                names = []
            match = next((n for n in names if n == part), None) or next((n for n in names if fold(n) == fold(part)), None)
            real = os.path.join(real, match or part)
        return real

    def __call__(self, op, *args):
        try:
            return super().__call__(op, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO)

    def getattr(self, path, fh=None):
        st = os.lstat(self._real(path))
        return {k: getattr(st, k) for k in ('st_atime', 'st_ctime', 'st_gid', 'st_mode', 'st_mtime', 'st_nlink', 'st_size', 'st_uid', 'st_ino')}

    def readdir(self, path, fh):
        return ['.', '..'] + os.listdir(self._real(path))

    def readlink(self, path):
        return os.readlink(self._real(path))

    def access(self, path, mode):
        if not os.access(self._real(path), mode, follow_symlinks=False):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)

    def chown(self, path, uid, gid):
        os.lchown(self._real(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._real(path), ns=None if times is None else (int(times[0] * 1e9), int(times[1] * 1e9)), follow_symlinks=False)

    def mkdir(self, path, mode):
        os.mkdir(self._real(path), mode)

    def rmdir(self, path):
        os.rmdir(self._real(path))

    def unlink(self, path):
        os.unlink(self._real(path))

    def symlink(self, name, target):
        os.symlink(target, self._real(name))

    def link(self, target, source):
        os.link(self._real(source), self._real(target))

    def rename(self, old, new):
        os.rename(self._real(old), self._real(new))

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        return {k: getattr(st, k) for k in ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree', 'f_files', 'f_flag', 'f_frsize', 'f_namemax')}

    def create(self, path, mode, fi=None):
        return os.open(self._real(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)

    def open(self, path, flags):
        return os.open(self._real(path), flags)

    def read(self, path, size, offset, fh):
        os.lseek(fh, offset, os.SEEK_SET)
        return os.read(fh, size)

    def write(self, path, data, offset, fh):
        os.lseek(fh, offset, os.SEEK_SET)
        return os.write(fh, data)

    def truncate(self, path, length, fh=None):
        os.truncate(self._real(path), length)

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        os.fsync(fh)

    def release(self, path, fh):
        os.close(fh)


if __name__ == '__main__':
    FUSE(CaseFold(sys.argv[1]), sys.argv[2], foreground=True, nothreads=True, allow_other=False, default_permissions=False)
