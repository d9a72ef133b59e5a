using System.Diagnostics;
using AvBert.Runtime;

namespace AvBert.Tests.Cli;

/// <summary>The built CLI run as a user would: exit codes from the table, one line on stderr, signals honoured.</summary>
public class CliExitCodeTests
{
    static string CliDll
    {
        get
        {
            var config = AppContext.BaseDirectory.Contains("/bin/Debug/", StringComparison.Ordinal) ? "Debug" : "Release";
            var dll = Path.Combine(TestSetup.RepoRoot, "src", "AvBert.Cli", "bin", config, "net10.0", "linux-x64", "AvBert.Cli.dll");
            Assert.True(File.Exists(dll), $"{dll} not built (the test project builds it)");
            return dll;
        }
    }

    static Process Start(params string[] args) => Start(args, null);

    static Process Start(string[] args, IReadOnlyDictionary<string, string>? env)
    {
        InterruptsReachChildren();
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>
    /// A test run launched in the background by a shell without job control (`cmd &amp;` in a script, some CI runners)
    /// starts with SIGINT ignored, and every child inherits that: the CLI then rightly ignores SIGINT (as Python and
    /// .NET programs do when started so) and the SIGINT test could not reach it. So the test process puts SIGINT back to
    /// its default action before starting the CLI: only when it is ignored, where the runtime installed no handler of its
    /// own (it leaves an ignored SIGINT alone).
    /// </summary>
    static void InterruptsReachChildren()
    {
        var sigIgn = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        if (sigIgn is null) return;
        ulong mask = Convert.ToUInt64(sigIgn["SigIgn:".Length..].Trim(), 16);
        const int Sigint = 2;
        if ((mask & (1UL << (Sigint - 1))) != 0) signal(Sigint, IntPtr.Zero);  // SIG_DFL
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    static extern IntPtr signal(int signum, IntPtr handler);

    static (int Code, string Stderr) Run(params string[] args)
    {
        var (code, _, err) = RunWithOutput(args);
        return (code, err);
    }

    /// <summary>Runs the CLI to the end: exit code, stdout, stderr. <paramref name="env"/>: extra environment variables.</summary>
    internal static (int Code, string Stdout, string Stderr) RunWithOutput(string[] args, IReadOnlyDictionary<string, string>? env = null)
    {
        using var p = Start(args, env);
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(300_000), "the CLI did not finish");
        return (p.ExitCode, output, err.Result);
    }

    [Fact]
    public void User_caused_failures_end_with_one_line_and_exit_code_2()
    {
        var dir = TestSetup.TempDir("cli");
        var file = Path.Combine(dir, "a-file");
        File.WriteAllText(file, "x");
        var yaml = Path.Combine(dir, "complex.yaml");
        File.WriteAllText(yaml, "model:\n  ? [a, b]\n  : 1\n");
        foreach (var (args, says) in new[]
                 {
                     (new[] { "synth", "--out", file }, $"{file} is a file"),
                     (new[] { "config", "--config", yaml }, "plain name"),
                     (new[] { "params", "--no-such-option" }, "avbert params --help"),
                     (new[] { "finetune", "--data", "toy-av", "--out", Path.Combine(dir, "run") }, "--task is required"),
                     (new[] { "pretrain", "--data", "toy-av:0", "--preset", "small", "--out", Path.Combine(dir, "run") }, "toy-av:N needs a positive number"),
                     (new[] { "ablate", "sideways", "--out", Path.Combine(dir, "ablate") }, "unknown table 'sideways'"),
                 })
        {
            var (code, err) = Run(args);
            Assert.Equal(ExitCodes.UserError, code);
            var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: ", line);
            Assert.Contains(says, line);
        }
    }

    [Fact]
    public void Sigterm_stops_a_command_that_takes_no_cancellation_token_with_exit_code_130()
    {
        var dir = TestSetup.TempDir("cli");
        var fifo = Path.Combine(dir, "config.fifo"); // reading it blocks until a writer comes: a command busy for ever
        using (var mk = Process.Start("mkfifo", [fifo])) mk.WaitForExit();
        var ckpt = Path.Combine(dir, "ckpt.pyth");
        File.WriteAllText(ckpt, "");
        using var p = Start("convert", "--from-reference", ckpt, "--reference-config", fifo, "--out", Path.Combine(dir, "out"));
        var err = p.StandardError.ReadToEndAsync();
        Thread.Sleep(3000); // let it reach the blocking read (the runtime starts in well under that)
        Process.Start("kill", ["-TERM", p.Id.ToString()])!.WaitForExit();
        bool exited = p.WaitForExit(15_000);
        if (!exited) p.Kill(entireProcessTree: true);
        Assert.True(exited, "SIGTERM did not stop 'convert'");
        Assert.Equal(ExitCodes.Interrupted, p.ExitCode);
        Assert.Contains("interrupted", err.Result);
    }

    /// <summary>The small preset with the tiny model and clip geometry of the downstream tests (a CLI run of seconds).</summary>
    static string[] WithSets(string[] args, params string[] sets) =>
        [.. args, "--preset", "small", .. AvBert.Tests.Runs.LabeledMediaFixture.TinySets.Concat(sets).SelectMany(s => new[] { "--set", s })];

    /// <summary>The options each command's --help must list; every command of the root --help must have an entry.</summary>
    static readonly Dictionary<string, string[]> HelpOptions = new()
    {
        ["info"] = ["--preset", "--config", "--set", "--check"],
        ["config"] = ["--preset", "--config", "--set"],
        ["params"] = ["--preset", "--config", "--set"],
        ["convert"] = ["--from-reference", "--reference-config", "--out"],
        ["export"] = ["--model", "--format", "--out"],
        ["forward"] = ["--model", "--inputs", "--out", "--device"],
        ["inspect"] = ["--out", "--png", "--crop", "--set"],
        ["pretrain"] = ["--data", "--out", "--resume", "--allow-data-change", "--workers", "--progress", "--retries", "--device", "--set"],
        ["finetune"] = ["--task", "--protocol", "--data", "--init", "--out", "--resume", "--folds", "--train-split", "--test-split",
                        "--val-fraction", "--test-data", "--no-test", "--workers", "--progress", "--retries", "--device", "--set"],
        ["eval"] = ["--model", "--data", "--split", "--out", "--workers", "--device"],
        ["predict"] = ["--model", "--top", "--json", "--workers", "--device", "--runtime"],
        ["extract"] = ["--model", "--data", "--split", "--out", "--batch-size", "--workers", "--device", "--runtime"],
        ["prep"] = ["--data", "--out", "--workers", "--set"],
        ["synth"] = ["--out", "--train", "--test", "--size", "--seed", "--classes", "--toy"],
        ["demo"] = ["--out", "--seed", "--steps", "--classes", "--toy", "--progress", "--device", "--set"],
        ["ablate"] = ["--out", "--data", "--downstream", "--rows", "--seeds", "--steps", "--protocol", "--task", "--preset", "--set", "--device"],
        ["bench"] = [],
        ["bench step"] = ["--precision", "--batch", "--steps", "--device", "--set"],
        ["bench loader"] = ["--data", "--workers", "--seconds", "--task", "--split"],
        ["bench allreduce"] = [],
        ["bench onnx"] = ["--batch", "--clips", "--steps", "--preset", "--set"],
        ["bench probe"] = ["--videos", "--classes", "--folds", "--k", "--no-linear", "--probe-steps"],
        ["probe"] = ["--features", "--model", "--data", "--out", "--folds", "--repeats", "--kfold", "--k", "--no-linear", "--device"],
        ["data"] = [],
        ["data real"] = ["--seed", "--train", "--test", "--seconds", "--assets", "--out"],
        ["test"] = [],
    };

    static IEnumerable<string> ListedCommands(string help) =>
        help[(help.IndexOf("Commands:", StringComparison.Ordinal) + "Commands:".Length)..]
            .Split('\n').Where(l => l.StartsWith("  ", StringComparison.Ordinal) && l.Trim().Length > 0 && !l.StartsWith("   ", StringComparison.Ordinal))
            .Select(l => l.Trim().Split(' ')[0]);

    [Fact]
    public void Help_of_every_command_exits_0_and_lists_its_options()
    {
        var (code, root, _) = RunWithOutput(["--help"]);
        Assert.Equal(ExitCodes.Ok, code);
        var (benchCode, bench, _) = RunWithOutput(["bench", "--help"]);
        Assert.Equal(ExitCodes.Ok, benchCode);
        var (dataCode, data, _) = RunWithOutput(["data", "--help"]);
        Assert.Equal(ExitCodes.Ok, dataCode);
        var commands = ListedCommands(root).Concat(ListedCommands(bench).Select(c => "bench " + c))
                                           .Concat(ListedCommands(data).Select(c => "data " + c)).ToList();
        Assert.Equal(HelpOptions.Keys.Order(), commands.Order());
        Parallel.ForEach(commands, new ParallelOptions { MaxDegreeOfParallelism = 4 }, command =>
        {
            var (rc, help, err) = RunWithOutput([.. command.Split(' '), "--help"]);
            Assert.True(rc == ExitCodes.Ok, $"{command} --help: exit code {rc}: {err}");
            Assert.Contains("Usage:", help);
            foreach (var option in HelpOptions[command])
                Assert.True(help.Contains("  " + option + " ", StringComparison.Ordinal) || help.Contains("  " + option + "\n", StringComparison.Ordinal),
                            $"{command} --help does not list {option}:\n{help}");
        });
    }

    /// <summary>The params table: the four sharing settings of the paper, totals that add up, and the configured row starred.</summary>
    [Fact]
    public void Params_prints_the_four_sharing_settings_and_stars_the_configured_one()
    {
        string[] paper = ["none", "cross-layer", "cross-layer + all cross-Transformer", "cross-layer + partial low-rank"];
        List<(string Name, long[] Counts)> Table(params string[] sets)
        {
            var (code, output, err) = RunWithOutput(["params", "--preset", "small", .. sets.SelectMany(s => new[] { "--set", s })]);
            Assert.True(code == ExitCodes.Ok, err);
            var lines = output.Split('\n');
            int rule = Array.FindIndex(lines, l => l.StartsWith("---", StringComparison.Ordinal));
            Assert.True(rule > 0, output);
            Assert.StartsWith("sharing", lines[rule - 1]);
            return lines.Skip(rule + 1).TakeWhile(l => l.Trim().Length > 0).Select(l =>
            {
                var cells = System.Text.RegularExpressions.Regex.Split(l.Trim(), @"\s{2,}");
                return (cells[0], cells[1..].Select(c => long.Parse(c, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture)).ToArray());
            }).ToList();
        }

        var small = Table();   // the small preset: 2 layers, cross-layer + partial low-rank sharing
        Assert.Equal([.. paper.Take(3), paper[3] + " *"], small.Select(r => r.Name));
        foreach (var (name, c) in small) Assert.True(c[0] + c[1] + c[2] + c[3] == c[4], $"{name}: the parts do not add up to the total");
        Assert.True(small[0].Counts[0] > small[1].Counts[0] && small[1].Counts[0] > small[2].Counts[0], "sharing must shrink the Transformer");

        var none = Table("model.transformer.share_across_layers=false", "model.transformer.share_across_transformers=none");
        Assert.Equal(["none *", .. paper.Skip(1)], none.Select(r => r.Name));
        Assert.Equal(small.Select(r => r.Counts), none.Select(r => r.Counts)); // the same rows, counted or computed

        var other = Table("model.transformer.share_across_layers=false", "model.transformer.share_across_transformers=all");
        Assert.Equal(5, other.Count);
        Assert.Equal("configured (all) *", other[4].Name);
        Assert.DoesNotContain(other.Take(4), r => r.Name.EndsWith('*'));
    }

    /// <summary>forward on a converted reference model: 0 when the outputs match docs/PARITY.md's tolerance, 3 when the
    /// reference outputs or the inputs are perturbed.</summary>
    [Fact]
    public void Forward_exits_3_when_the_outputs_do_not_match_the_reference()
    {
        var dir = TestSetup.TempDir("cli-parity");
        string Ref(string name) => Path.Combine(TestSetup.ReferenceDir, name);
        var model = Path.Combine(dir, "model");
        Assert.Equal(ExitCodes.Ok, Run("convert", "--from-reference", Ref("tiny-a.pyth"), "--reference-config", Ref("tiny-a.config.yaml"), "--out", model).Code);

        var io = AvBert.Storage.SafetensorsFile.ReadAll(Ref("tiny-a.io.safetensors"), new AvBert.Storage.SafetensorsReadOptions { RequireFinite = false });
        string Perturbed(string name, string key, Func<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> change)
        {
            var path = Path.Combine(dir, name);
            AvBert.Storage.SafetensorsFile.Write(path, io.Select(kv => KeyValuePair.Create(kv.Key, kv.Key == key ? change(kv.Value) : kv.Value)));
            return path;
        }
        var outputOff = Perturbed("output-off.safetensors", "output.multimodal_transformer", t => t + 0.01 * t.abs().max());
        var inputOff = Perturbed("input-off.safetensors", "input.audio", t => t.flip(0));

        var (ok, okOut, okErr) = RunWithOutput(["forward", "--model", model, "--inputs", Ref("tiny-a.io.safetensors"), "--out", Path.Combine(dir, "o.safetensors"), "--device", "cpu"]);
        Assert.True(ok == ExitCodes.Ok, okOut + okErr);
        Assert.Contains("all outputs match the reference.", okOut);
        foreach (var (inputs, bad) in new[] { (outputOff, "output.multimodal_transformer"), (inputOff, "output.audio_pooled") })
        {
            var (code, output, _) = RunWithOutput(["forward", "--model", model, "--inputs", inputs, "--out", Path.Combine(dir, "o.safetensors"), "--device", "cpu"]);
            Assert.Equal(ExitCodes.ParityMismatch, code);
            Assert.Contains(output.Split('\n'), l => l.Contains(bad + ":", StringComparison.Ordinal) && l.EndsWith("MISMATCH", StringComparison.Ordinal));
            Assert.Contains("do NOT match", output);
        }
    }

    /// <summary>SIGINT during pretraining: the run stops after the step, writes a checkpoint, and exits 130.</summary>
    [Fact]
    public void Sigint_stops_pretrain_with_a_checkpoint_and_exit_code_130()
    {
        var run = Path.Combine(TestSetup.TempDir("cli-sigint"), "run");
        using var p = Start(WithSets(["pretrain", "--data", "toy-av:8", "--out", run, "--workers", "1", "--progress", "plain", "--device", "cpu"],
                                     "pretrain.batch_size=2", "pretrain.steps=100000", "pretrain.warmup_steps=1", "pretrain.log_every=1",
                                     "pretrain.checkpoint_every=100000", "pretrain.negatives=2"), null);
        var lines = new System.Collections.Concurrent.BlockingCollection<string>();
        var stderr = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is { } l) lines.Add(l); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is { } l) { lock (stderr) stderr.AppendLine(l); lines.Add(l); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddMinutes(3);
        bool stepping = false;
        while (!stepping && DateTime.UtcNow < deadline && !p.HasExited)
            if (lines.TryTake(out var line, 1000)) stepping = line.StartsWith("step ", StringComparison.Ordinal); // a step is done
        Assert.True(stepping, "pretrain did not finish a step: " + stderr);
        Process.Start("kill", ["-INT", p.Id.ToString()])!.WaitForExit();
        bool exited = p.WaitForExit(120_000);
        if (!exited) p.Kill(entireProcessTree: true);
        Assert.True(exited, "SIGINT did not stop pretrain: " + stderr);
        p.WaitForExit();
        Assert.Equal(ExitCodes.Interrupted, p.ExitCode);
        Assert.Contains("writing a checkpoint", stderr.ToString());
        Assert.True(new AvBert.Training.CheckpointStore(Path.Combine(run, "checkpoints")).HasAny(), "no checkpoint in " + run);
    }

    /// <summary>A native crash inside the command (here SIGABRT sent to the supervised child, as libtorch's abort would end
    /// it) ends with one line naming the signal and what was running, exit code 7, and the checkpoints written before it
    /// intact: the run resumes from them.</summary>
    [Fact]
    public void A_native_crash_during_pretraining_ends_with_one_line_exit_code_7_and_intact_checkpoints()
    {
        var run = Path.Combine(TestSetup.TempDir("cli-crash"), "run");
        string[] Args(string[] head, long steps) => WithSets([.. head, "--workers", "1", "--progress", "plain", "--device", "cpu"],
            "pretrain.batch_size=2", $"pretrain.steps={steps}", "pretrain.warmup_steps=1", "pretrain.log_every=1",
            "pretrain.checkpoint_every=1", "pretrain.negatives=2");
        using var p = Start(Args(["pretrain", "--data", "toy-av:8", "--out", run], 100_000), null);
        var stderr = new System.Text.StringBuilder();
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) => { if (e.Data is { } l) lock (stderr) stderr.AppendLine(l); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var store = new AvBert.Training.CheckpointStore(Path.Combine(run, "checkpoints"));
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (!p.HasExited && DateTime.UtcNow < deadline && !(store.HasAny() && store.Latest() is { } l && !l.EndsWith("step-00000001")))
            Thread.Sleep(200);
        Assert.True(store.HasAny(), "no checkpoint was written: " + stderr);
        Assert.False(p.HasExited, $"pretrain ended before the crash (exit {(p.HasExited ? p.ExitCode : 0)}): {stderr}");
        int worker = ChildOf(p.Id);
        bool exited = false;
        for (int i = 0; i < 30 && !exited; i++) // once seen not to take at the first try: sent again until it does
        {
            Process.Start("kill", ["-ABRT", worker.ToString()])!.WaitForExit();
            exited = p.WaitForExit(2_000);
        }
        if (!exited) p.Kill(entireProcessTree: true);
        Assert.True(exited, "the supervisor did not return after the crash");
        p.WaitForExit();
        Assert.Equal(ExitCodes.NativeCrash, p.ExitCode);
        var line = Assert.Single(stderr.ToString().Split('\n'), l => l.StartsWith("error:"));
        Assert.Contains("died of SIGABRT", line);
        Assert.Matches(@"while (pretrain step \d+ of 100000|writing the checkpoint of pretrain step \d+)", line);
        // The newest complete checkpoint loads, and the run resumes from it.
        var latest = store.Latest();
        Assert.NotNull(latest);
        var (code, _, err) = RunWithOutput(Args(["pretrain", "--data", "toy-av:8", "--out", run, "--resume"],
                                                int.Parse(Path.GetFileName(latest)!["step-".Length..]) + 1));
        Assert.True(code == 0, err);
    }

    /// <summary>The pid of the (first) child process of <paramref name="parent"/>.</summary>
    static int ChildOf(int parent)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), out var pid))
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    if (int.Parse(fields[1]) == parent) return pid;
                }
                catch (IOException) { }
        throw new InvalidOperationException($"process {parent} has no child");
    }

    /// <summary>finetune and eval take --data toy-av[:N] like pretrain: the videos are written once to the user cache and reused.</summary>
    [Fact]
    public void Finetune_and_eval_run_on_toy_av()
    {
        var root = TestSetup.TempDir("cli-toy-av");
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = Path.Combine(root, "cache") };
        var run = Path.Combine(root, "run");
        var (code, output, err) = RunWithOutput(WithSets(["finetune", "--task", "visual", "--data", "toy-av:4", "--out", run, "--workers", "1",
                                                          "--progress", "off", "--device", "cpu"], "downstream.visual.epochs=1"), env);
        Assert.True(code == ExitCodes.Ok, output + err);
        Assert.Contains("toy-av:4: writing 4 training and 2 test videos", output);
        Assert.Single(Directory.GetDirectories(Path.Combine(root, "cache", "avbert", "toy-av")));
        Assert.True(File.Exists(Path.Combine(run, "metrics.json")));
        Assert.True(File.Exists(Path.Combine(run, "model", "config.yaml")));

        var evalJson = Path.Combine(root, "eval", "metrics.json");
        (code, output, err) = RunWithOutput(["eval", "--model", run, "--data", "toy-av:4", "--out", evalJson, "--workers", "1", "--device", "cpu"], env);
        Assert.True(code == ExitCodes.Ok, output + err);
        Assert.DoesNotContain("writing", output);   // the cached videos are reused
        Assert.Equal(File.ReadAllText(Path.Combine(run, "metrics.json")), File.ReadAllText(evalJson));
    }
}
