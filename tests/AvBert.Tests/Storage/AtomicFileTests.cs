using AvBert.Runtime;
using AvBert.Storage;

namespace AvBert.Tests.Storage;

public class AtomicFileTests
{
    /// <summary>A stream that takes <paramref name="room"/> bytes, then fails as a full disk does (ENOSPC).</summary>
    internal sealed class FullDisk(Stream inner, long room) : Stream
    {
        long _written;
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > room) throw new IOException("No space left on device : 'x'", 28);
            inner.Write(buffer);
            _written += buffer.Length;
        }
        public override void Flush() => inner.Flush();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    [Fact]
    public void Replaces_the_file_and_leaves_no_temporary_file()
    {
        var dir = TestSetup.TempDir("atomic");
        var path = Path.Combine(dir, "state.json");
        AtomicFile.WriteAllText(path, "old");
        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }

    [Fact]
    public void A_full_disk_keeps_the_old_file_and_says_so_with_exit_code_4()
    {
        var dir = TestSetup.TempDir("atomic-full");
        var path = Path.Combine(dir, "metrics.json");
        AtomicFile.WriteAllText(path, "the previous result");
        AtomicFile.StreamWrapper.Value = s => new FullDisk(s, room: 10);
        try
        {
            var e = Assert.Throws<DiskFullError>(() => AtomicFile.WriteAllText(path, new string('x', 1000)));
            Assert.Equal(ExitCodes.OutOfResources, e.ExitCode);
            Assert.Contains(path, e.Message);
            Assert.Contains("disk is full", e.Message);
        }
        finally { AtomicFile.StreamWrapper.Value = null; }
        Assert.Equal("the previous result", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }

    [Fact]
    public void A_streamed_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary()
    {
        var dir = TestSetup.TempDir("atomic-stream");
        var path = Path.Combine(dir, "frames.rgb");
        AtomicFile.Write(path, s => s.Write([1, 2, 3]));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        var e = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100_000]);
            throw new InvalidOperationException("the writer failed");
        }));
        Assert.Equal("the writer failed", e.Message);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }

    [Fact]
    public void A_file_another_writer_made_at_the_temporary_path_is_published_and_a_failed_one_removed()
    {
        var dir = TestSetup.TempDir("atomic-via");
        var path = Path.Combine(dir, "clip.mkv");
        string? seen = null;
        AtomicFile.WriteVia(path, tmp => { seen = tmp; File.WriteAllText(tmp, "first"); });
        Assert.Equal(".mkv", Path.GetExtension(seen));      // the writer (FFmpeg) can tell the format from the name
        Assert.Equal(dir, Path.GetDirectoryName(seen));     // same folder: the rename stays on one file system
        Assert.Equal("first", File.ReadAllText(path));
        Assert.Throws<IOException>(() => AtomicFile.WriteVia(path, tmp =>
        {
            File.WriteAllText(tmp, "half of a second");        // what a killed child process leaves behind
            throw new IOException("the writer failed");
        }));
        Assert.Equal("first", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir));
    }

    [Fact]
    public void A_device_pipe_or_folder_in_the_way_is_refused_and_left_as_it_is()
    {
        var dir = TestSetup.TempDir("atomic-special");
        var fifo = Path.Combine(dir, "out.safetensors");
        using (var p = System.Diagnostics.Process.Start("mkfifo", fifo)) p.WaitForExit();
        var e = Assert.Throws<UserError>(() => AtomicFile.WriteAllText(fifo, "x"));
        Assert.Contains("not a regular file", e.Message);
        Assert.Contains(fifo, e.Message);
        Assert.Equal("fifo", FileType(fifo));                                                 // still the pipe, not replaced
        var folder = Path.Combine(dir, "sub");
        Directory.CreateDirectory(folder);
        Assert.Contains("is a folder", Assert.Throws<UserError>(() => AtomicFile.WriteAllText(folder, "x")).Message);
        Assert.True(Directory.Exists(folder));
    }

    static string FileType(string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%F", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        string type = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return type;
    }
}

public class AtomicFileTemporaryTests
{
    [Fact]
    public void Temporaries_of_writers_that_are_gone_are_removed_and_a_live_writers_are_kept()
    {
        var dir = AvBert.Tests.TestSetup.TempDir("atomic-stale");
        try
        {
            // What a writer killed mid-write leaves, and one that is still writing (this process).
            string gone = Path.Combine(dir, ".clip.tmp-99999999-0123abcd.rgb"), live = Path.Combine(dir, $".clip.tmp-{Environment.ProcessId}-89abcdef.rgb");
            string result = Path.Combine(dir, "clip.rgb"), lookalike = Path.Combine(dir, ".notes.tmp-12-zz.txt");
            foreach (var f in new[] { gone, live, result, lookalike }) File.WriteAllText(f, "x");
            Assert.Equal(1, AvBert.Storage.AtomicFile.RemoveStaleTemporaries(dir));
            Assert.False(File.Exists(gone));
            Assert.True(File.Exists(live));
            Assert.True(File.Exists(result));
            Assert.True(File.Exists(lookalike));          // not a name AtomicFile makes
            Assert.Equal(0, AvBert.Storage.AtomicFile.RemoveStaleTemporaries(Path.Combine(dir, "missing")));
        }
        finally { Directory.Delete(dir, true); }
    }
}
