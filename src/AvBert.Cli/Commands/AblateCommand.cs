using AvBert.Config;
using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

/// <summary>`avbert ablate TABLE`: the paper's ablation tables (sharing, negatives, fusion), one pretraining and evaluation per row and seed.</summary>
public static class AblateCommand
{
    public static Command Build()
    {
        var config = new ConfigOptions();
        config.Preset.DefaultValueFactory = _ => "small";
        var device = new DeviceOption();
        var defaults = new AblationOptions { OutDir = "" };
        var table = new Argument<string>("TABLE") { Description = "sharing, negatives, fusion or all" };
        var output = CommonOptions.Out("Output folder: table.md, results.json, TABLE.png, ablation.json, cells/TABLE/ROW/seed-S/ (pretrain/ run folder, result.json)");
        var data = new Option<string>("--data") { Description = "Pretraining data: toy-av[:N] (built in, N new videos per epoch), a labelled source with a test split (e.g. real; probed as the demo does when there is no --downstream) or any unlabeled source", DefaultValueFactory = _ => defaults.Data };
        var downstream = new Option<string?>("--downstream") { Description = "Labeled source each pretrained model is evaluated on; without it, --protocol probe scores --data's own test split as the demo does" };
        var rows = new Option<string?>("--rows") { Description = "Only these rows, by folder name (e.g. none,cross-layer); default: every row" };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per row (0..N−1)", DefaultValueFactory = _ => defaults.Seeds };
        var steps = new Option<int?>("--steps") { Description = $"Pretraining steps per cell (default on toy-av: {AblationOptions.DefaultSteps}; probed as the demo does: {DemoOptions.DefaultSteps}; else the config's)" };
        var protocol = new Option<AblationProtocol>("--protocol") { Description = "probe (linear probes on frozen features), finetune, or both", DefaultValueFactory = _ => defaults.Protocol };
        var task = new Option<DownstreamTask>("--task") { Description = "Downstream task of --downstream (default audiovisual: Kinetics-Sounds, the paper's ablation task)", DefaultValueFactory = _ => defaults.Task };
        var probeTrain = new Option<int>("--probe-train") { Description = "toy-av probes: labelled training videos", DefaultValueFactory = _ => defaults.ProbeTrainVideos };
        var probeTest = new Option<int>("--probe-test") { Description = "toy-av probes: test videos", DefaultValueFactory = _ => defaults.ProbeTestVideos };
        var workers = CommonOptions.Workers();
        var progress = CommonOptions.Progress();
        var c = new Command("ablate", "The paper's ablations: for every row of TABLE (sharing, negatives, fusion, all) and every seed, pretrain and " +
                                      "evaluate downstream; writes DIR/table.md (mean ± std over seeds, the paper's numbers beside), DIR/results.json, " +
                                      "DIR/TABLE.png. A rerun skips finished cells; Ctrl+C stops after the step in progress. Each row's config keys " +
                                      "are set after --set.");
        c.Arguments.Add(table);
        foreach (var o in new Option[] { output, data, downstream, rows, seeds, steps, protocol, task, probeTrain, probeTest, workers, progress }) c.Options.Add(o);
        config.AddTo(c);
        device.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var tables = AblationTables.Parse(r.GetValue(table)!);
            var options = defaults with
            {
                OutDir = Path.GetFullPath(r.GetValue(output)!), Data = r.GetValue(data)!, Downstream = r.GetValue(downstream),
                Rows = r.GetValue(rows)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                Seeds = r.GetValue(seeds), Steps = r.GetValue(steps), Preset = r.GetValue(config.Preset)!, ConfigFile = r.GetValue(config.File),
                Sets = r.GetValue(config.Set) ?? [], Protocol = r.GetValue(protocol), Task = r.GetValue(task),
                ProbeTrainVideos = r.GetValue(probeTrain), ProbeTestVideos = r.GetValue(probeTest),
                Device = device.Resolve(r), Workers = r.GetValue(workers), Progress = r.GetValue(progress),
            };
            var summary = AblationRun.Run(tables, options, ct);
            Console.Write(AblationReport.Markdown(options, tables, summary.Cells));
            Console.WriteLine($"ablate: {summary.CellsRun} cells run, {summary.CellsKept} kept from before, {summary.Seconds:0} s; wrote " +
                              string.Join(", ", new[] { AblationReport.TableFile, AblationReport.ResultsFile }.Concat(tables.Select(AblationReport.PngFile))
                                                     .Select(f => Path.Combine(options.OutDir, f))));
            return Task.FromResult(0);
        });
        return c;
    }
}
