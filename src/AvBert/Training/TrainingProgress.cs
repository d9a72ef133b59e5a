using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using AvBert.Runtime;

namespace AvBert.Training;

/// <summary>
/// Progress of a training run: a live Spectre.Console bar with step/total, losses, learning rate, items per second and
/// ETA; or, when the output is not a terminal, a plain line every <see cref="PlainIntervalSeconds"/> (and at the first
/// and last step). <see cref="Start"/> begins it and <see cref="Dispose"/> ends it: the live display stays on the terminal
/// in between, while the caller's loop reports its steps.
/// </summary>
public sealed class TrainingProgress : IDisposable
{
    readonly string _itemName;
    readonly long _total;
    readonly ProgressMode _mode;
    readonly Queue<(double T, long Step, long Items)> _window = new();
    readonly Stopwatch _clock = Stopwatch.StartNew();
    long _items;
    double _lastPlain = double.NegativeInfinity;
    LiveDisplayContext? _live;
    TaskCompletionSource? _liveEnd;
    Task? _liveDisplay;
    string _title = "";
    string _metricsText = "";

    public double PlainIntervalSeconds { get; init; } = 10;
    /// <summary>Items per second over the recent window (0 before two reports).</summary>
    public double Rate { get; private set; }
    public TimeSpan? Eta { get; private set; }
    public string LastLine { get; private set; } = "";

    TrainingProgress(string itemName, long startStep, long total, ProgressMode mode)
    {
        _itemName = itemName;
        _total = total;
        _mode = mode;
        _window.Enqueue((0, startStep, 0));
    }

    public static ProgressMode Resolve(ProgressMode mode) =>
        mode != ProgressMode.Auto ? mode
        : !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive && Environment.GetEnvironmentVariable("CI") is null
            ? ProgressMode.Live : ProgressMode.Plain;

    /// <summary>Starts reporting steps <paramref name="startStep"/>..<paramref name="totalSteps"/>; dispose to end it.</summary>
    public static TrainingProgress Start(string title, long startStep, long totalSteps, string itemName, ProgressMode mode)
    {
        mode = Resolve(mode);
        var p = new TrainingProgress(itemName, startStep, totalSteps, mode);
        if (mode == ProgressMode.Live) p.StartLive(title, startStep);
        return p;
    }

    /// <summary>Runs <paramref name="body"/> with a progress reporter for steps <paramref name="startStep"/>..<paramref name="totalSteps"/>.</summary>
    public static T Run<T>(string title, long startStep, long totalSteps, string itemName, ProgressMode mode, Func<TrainingProgress, T> body)
    {
        using var p = Start(title, startStep, totalSteps, itemName, mode);
        return body(p);
    }

    /// <summary>
    /// Puts the live display up until <see cref="Dispose"/>. Spectre's display lasts as long as the task its callback
    /// returns, and runs on this thread up to that task: the context is set when this returns, and the steps are reported
    /// from the caller's thread as before.
    /// </summary>
    void StartLive(string title, long startStep)
    {
        _title = title;
        _liveEnd = new TaskCompletionSource();
        _liveDisplay = AnsiConsole.Live(Render(startStep)).AutoClear(false).Overflow(VerticalOverflow.Ellipsis).StartAsync(ctx =>
        {
            _live = ctx;
            return _liveEnd.Task;
        });
        if (_liveDisplay.IsCompleted) _liveDisplay.GetAwaiter().GetResult(); // e.g. another live display is up: its error now
    }

    /// <summary>Ends the live display (its last state stays on the terminal); nothing to do in the other modes.</summary>
    public void Dispose()
    {
        if (_liveEnd is null) return;
        _live = null;
        _liveEnd.TrySetResult();
        _liveEnd = null;
        _liveDisplay!.GetAwaiter().GetResult();
    }

    /// <summary>Reports a finished optimiser step: its values (losses first), the learning rate and how many items it processed.</summary>
    public void Report(long step, IReadOnlyDictionary<string, double> values, double lr, long items)
    {
        _items += items;
        double now = _clock.Elapsed.TotalSeconds;
        _window.Enqueue((now, step, _items));
        while (_window.Count > 2 && (_window.Count > 50 || now - _window.Peek().T > 60)) _window.Dequeue();
        var first = _window.Peek();
        if (now > first.T && step > first.Step)
        {
            Rate = (_items - first.Items) / (now - first.T);
            Eta = TimeSpan.FromSeconds((_total - step) * (now - first.T) / (step - first.Step));
        }
        LastLine = Format(step, values, lr);
        switch (_mode)
        {
            case ProgressMode.Live when _live is not null:
                _metricsText = ShortLine(values, lr);
                _live.UpdateTarget(Render(step));
                break;
            case ProgressMode.Plain:
                if (now - _lastPlain >= PlainIntervalSeconds || step >= _total)
                {
                    _lastPlain = now;
                    Console.WriteLine(LastLine);
                }
                break;
        }
    }

    /// <summary>A line printed above the bar (plain and live modes).</summary>
    public void Message(string line)
    {
        if (_mode == ProgressMode.Off) return;
        if (_mode == ProgressMode.Live) AnsiConsole.MarkupLine(Markup.Escape(line));
        else Console.WriteLine(line);
    }

    /// <summary>Values on the progress line: "loss" and its direct parts ("loss_mep", "loss_cpp"), not the finer ones.</summary>
    public static bool Shown(string key) => key == "loss" || key.StartsWith("loss_", StringComparison.Ordinal) && key.IndexOf('_', 5) < 0;

    /// <summary>The live bar's text after the bar: losses, lr, rate, ETA (the step is in the description).</summary>
    string ShortLine(IReadOnlyDictionary<string, double> values, double lr)
    {
        var inv = CultureInfo.InvariantCulture;
        var parts = string.Join(" ", values.Where(kv => Shown(kv.Key)).Select(kv => $"{(kv.Key == "loss" ? "loss" : kv.Key[5..])} {kv.Value.ToString("0.000", inv)}"));
        return $"{parts} | lr {lr.ToString("0.0e+00", inv)} | {Rate.ToString("0.0", inv)} {_itemName}/s";
    }

    string EtaText => Eta is { } e ? (e.TotalHours >= 1 ? $"{(int)e.TotalHours}:{e:mm\\:ss}" : e.ToString("mm\\:ss")) : "--:--";

    /// <summary>Two lines: "title ━━━━╸━━━━ 45% step 450/1000 ETA 01:02" and the losses, lr and rate.</summary>
    Spectre.Console.Rendering.IRenderable Render(long step)
    {
        const int width = 30;
        double frac = _total > 0 ? Math.Clamp(step / (double)_total, 0, 1) : 0;
        int done = (int)Math.Round(frac * width);
        var bar = $"[green]{new string('━', done)}[/][grey]{new string('━', width - done)}[/]";
        var head = $"[bold]{Markup.Escape(_title)}[/] {bar} {frac * 100,3:0}%  step {step}/{_total}  ETA {EtaText}";
        return new Rows(new Markup(head), new Text(_metricsText) { Overflow = Overflow.Ellipsis });
    }

    string Format(long step, IReadOnlyDictionary<string, double> values, double lr)
    {
        var inv = CultureInfo.InvariantCulture;
        var width = _total.ToString(inv).Length;
        var parts = string.Join(" ", values.Where(kv => Shown(kv.Key))
                                            .Select(kv => $"{kv.Key} {kv.Value.ToString("0.0000", inv)}"));
        var eta = EtaText;
        return $"step {step.ToString(inv).PadLeft(width)}/{_total} | {parts} | lr {lr.ToString("0.00e+00", inv)} | " +
               $"{Rate.ToString("0.0", inv)} {_itemName}/s | ETA {eta}";
    }
}
