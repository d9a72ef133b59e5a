using AvBert.Runtime;
using AvBert.Training;

namespace AvBert.Tests.Training;

public class MetricsLogTests
{
    [Fact]
    public void Resume_drops_points_logged_after_the_checkpoint()
    {
        var dir = TestSetup.TempDir("metrics");
        using (var log = new MetricsLog(dir, tensorboard: false))
            for (int s = 1; s <= 5; s++) log.Write(s, new Dictionary<string, double> { ["loss"] = 1.0 / s, ["lr"] = 0.1 });
        using (var log = new MetricsLog(dir, resumeStep: 3, tensorboard: false))
            log.Write(4, new Dictionary<string, double> { ["loss"] = 9, ["lr"] = 0.1 });
        var rows = MetricsLog.Read(Path.Combine(dir, "metrics.jsonl"));
        Assert.Equal([1L, 2, 3, 4], rows.Select(r => r.Step));
        Assert.Equal(9, rows[^1].Values["loss"]);
        var csv = File.ReadAllLines(Path.Combine(dir, "metrics.csv"));
        Assert.Equal("step,loss,lr", csv[0]);
        Assert.Equal(5, csv.Length);
        Assert.StartsWith("4,9,", csv[4]);
    }

    [Fact]
    public void Loss_curves_are_written_as_png()
    {
        var dir = TestSetup.TempDir("curves");
        var rows = Enumerable.Range(1, 20).Select(s => new MetricsRow(s, new Dictionary<string, double> { ["loss"] = 1.0 / s, ["loss_cpp"] = 0.7, ["lr"] = 1 })).ToList();
        var png = Path.Combine(dir, "loss.png");
        Assert.True(CurvePlots.Save(rows, png));
        var head = File.ReadAllBytes(png).Take(4).ToArray();
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, head);
        Assert.False(CurvePlots.Save(rows, Path.Combine(dir, "none.png"), n => n == "missing"));
    }

    [Fact]
    public void Plain_progress_line_has_step_losses_lr_rate_and_eta()
    {
        var line = TrainingProgress.Run("t", 0, 100, "clips", ProgressMode.Off, p =>
        {
            p.Report(1, new Dictionary<string, double> { ["loss"] = 2.5, ["loss_mep"] = 1.25, ["grad_norm"] = 3 }, 1e-4, 16);
            Thread.Sleep(20);
            p.Report(2, new Dictionary<string, double> { ["loss"] = 2.0, ["loss_mep"] = 1.0, ["grad_norm"] = 3 }, 2e-4, 16);
            return p.LastLine;
        });
        Assert.Matches(@"^step\s+2/100 \| loss 2\.0000 loss_mep 1\.0000 \| lr 2\.00e-04 \| \d+\.\d clips/s \| ETA \d\d:\d\d", line);
    }
}

public class MetricsLogColumnsTests
{
    [Fact]
    public void Csv_widens_when_a_new_metric_appears()
    {
        var dir = TestSetup.TempDir("metrics-cols");
        using (var log = new MetricsLog(dir, tensorboard: false))
        {
            log.Write(1, new Dictionary<string, double> { ["loss"] = 2 });
            log.Write(2, new Dictionary<string, double> { ["val_acc"] = 0.5 });
            log.Write(3, new Dictionary<string, double> { ["loss"] = 1 });
        }
        Assert.Equal(["step,loss,val_acc", "1,2,", "2,,0.5", "3,1,"], File.ReadAllLines(Path.Combine(dir, "metrics.csv")));
    }
}
