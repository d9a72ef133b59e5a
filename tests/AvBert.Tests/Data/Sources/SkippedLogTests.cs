using AvBert.Data;
using AvBert.Media;
using AvBert.Data.Sources;

namespace AvBert.Tests.Data.Sources;

public sealed class SkippedLogTests : IDisposable
{
    readonly string _run = TestSetup.TempDir("skipped");
    public void Dispose() => Directory.Delete(_run, true);

    [Fact]
    public void Prints_one_line_and_appends_a_tsv_row_once_per_file()
    {
        var console = new StringWriter();
        var log = new SkippedLog(_run, console);
        Assert.True(log.Report("/d/a b.mp4", "no audio stream"));
        Assert.False(log.Report("/d/a b.mp4", "no audio stream"));
        log.Report(new MediaError("/d/tab\there.mp4", "not a media file\nFFmpeg can read"));
        Assert.Equal("skipped: /d/a b.mp4: no audio stream" + Environment.NewLine +
                     "skipped: /d/tab\there.mp4: not a media file FFmpeg can read" + Environment.NewLine, console.ToString());
        Assert.Equal(["path\treason", "/d/a b.mp4\tno audio stream", "/d/tab\\there.mp4\tnot a media file FFmpeg can read"],
                     File.ReadAllLines(Path.Combine(_run, "skipped.tsv")));
        Assert.True(log.Contains("/d/a b.mp4"));
        Assert.Equal(2, log.Count);
    }

    [Fact]
    public void A_resumed_run_reloads_the_list_and_does_not_repeat_rows()
    {
        new SkippedLog(_run, TextWriter.Null).Report("/d/x\ty.mp4", "file not found");
        var again = new SkippedLog(_run, TextWriter.Null, resume: true);
        Assert.True(again.Contains("/d/x\ty.mp4"));
        Assert.False(again.Report("/d/x\ty.mp4", "file not found"));
        again.Report("/d/z.mp4", "empty file (0 bytes)");
        Assert.Equal(3, File.ReadAllLines(again.FilePath!).Length);
    }

    [Fact]
    public void A_fresh_run_in_an_existing_folder_does_not_inherit_the_old_list()
    {
        new SkippedLog(_run, TextWriter.Null).Report("/d/old.mp4", "ffmpeg gave no result within 120 s (hung or too slow), killed");
        var fresh = new SkippedLog(_run, TextWriter.Null);
        Assert.False(fresh.Contains("/d/old.mp4"));
        Assert.Equal(0, fresh.Count);
        Assert.False(File.Exists(fresh.FilePath));
        fresh.Report("/d/new.mp4", "file not found");
        Assert.Equal(["path\treason", "/d/new.mp4\tfile not found"], File.ReadAllLines(fresh.FilePath!));
    }

    [Fact]
    public void Is_safe_to_report_from_many_threads()
    {
        var log = new SkippedLog(_run, TextWriter.Null);
        Parallel.For(0, 200, i => log.Report($"/d/{i % 50}.mp4", "file not found"));
        Assert.Equal(50, log.Count);
        Assert.Equal(51, File.ReadAllLines(log.FilePath!).Length);
        Assert.Equal($"50 files skipped (50 × file not found), listed in {log.FilePath}", log.Summary());
    }
}
