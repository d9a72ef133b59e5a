using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Data.Sources;

namespace AvBert.Tests.Data.Sources;

/// <summary>AudioSet's segment CSVs and label index, file matching by downloader naming, and Kinetics-Sounds' class list.</summary>
public sealed class AudioSetSourceTests : IDisposable
{
    readonly string _root = TestSetup.TempDir("audioset");
    public void Dispose() => Directory.Delete(_root, true);
    string P(string rel) => Path.Combine(_root, rel);

    // The official files' shape: three comment lines, spaces after commas, a quoted label list; display names with commas.
    const string Header = "# Segments csv created Sun Mar  5 10:54:31 2017\n# num_ytids=6, num_segs=6, num_unique_labels=3, num_positive_labels=8\n" +
                          "# YTID, start_seconds, end_seconds, positive_labels\n";
    const string Labels = "index,mid,display_name\n0,/m/09x0r,\"Speech\"\n1,/m/0ytgt,\"Child speech, kid speaking\"\n2,/t/dd00088,\"Gush\"\n";

    string Segments(string rows, string name = "balanced_train_segments.csv")
    {
        Layout.Write(_root, "as/class_labels_indices.csv", Labels);
        return Layout.Write(_root, "as/" + name, Header + rows);
    }

    [Fact]
    public void Parses_the_official_format_and_finds_each_downloaders_file_names()
    {
        var csv = Segments(
            "--PJHxphWEs, 30.000, 40.000, \"/m/09x0r,/t/dd00088\"\n" +   // full video YTID.mp4: the window is used
            "-0SdAVK79lg, 30.000, 40.000, \"/m/0ytgt\"\n" +               // YTID_START_END with the CSV's decimals
            "-0vPFx-wRRI, 30.000, 40.000, \"/m/0ytgt,/m/09x0r\"\n" +      // zero-padded whole seconds (Kinetics style)
            "-1nilez17Dg, 4.500, 14.500, \"/t/dd00088\"\n" +              // milliseconds
            "-1pRmoJIGQc, 30.000, 40.000, \"/m/09x0r\"\n" +               // PANNs: YYTID.wav, the cut segment
            "-2PDE7hUArE, 10.000, 20.000, \"/m/09x0r\"\n");               // not downloaded
        Layout.Touch(_root, "as/v/--PJHxphWEs.mp4");
        Layout.Touch(_root, "as/v/sub/-0SdAVK79lg_30.000_40.000.mkv");
        Layout.Touch(_root, "as/v/-0vPFx-wRRI_000030_000040.mp4");
        Layout.Touch(_root, "as/v/-1nilez17Dg_4500_14500.flac");
        Layout.Touch(_root, "as/v/Y-1pRmoJIGQc.wav");
        var log = new SkippedLog(null, TextWriter.Null);
        var notes = new StringWriter();
        var s = SourceLoader.Open($"audioset:{csv},videos={P("as/v")}", "train", log, notes);

        Assert.True(s.MultiLabel);
        Assert.Equal(["Speech", "Child speech, kid speaking", "Gush"], s.ClassNames);
        Assert.Equal([P("as/v/--PJHxphWEs.mp4"), P("as/v/sub/-0SdAVK79lg_30.000_40.000.mkv"), P("as/v/-0vPFx-wRRI_000030_000040.mp4"),
                      P("as/v/-1nilez17Dg_4500_14500.flac"), P("as/v/Y-1pRmoJIGQc.wav")], s.Items.Select(i => i.Path));
        Assert.Equal([[0, 2], [1], [0, 1], [2], [0]], s.Items.Select(i => i.Labels));
        Assert.Equal((30.0, 40.0), (s.Items[0].Start!.Value, s.Items[0].End!.Value));
        Assert.All(s.Items.Skip(1), i => Assert.Null(i.Start));          // cut segments are used whole
        Assert.Equal(1, s.MissingFiles);
        Assert.Equal(P("as/v/-2PDE7hUArE.mp4"), log.Items.Single().Path);
        // Missing files: one line for all of them, not one per file.
        Assert.Equal($"note: audioset balanced_train_segments.csv: 5 of 6 files found; the 1 missing are left out (e.g. {P("as/v/-2PDE7hUArE.mp4")})",
                     notes.ToString().Trim());
        SourceLoader.Open($"audioset:{csv},videos={P("as/v")}", "test", log, notes);   // the same file again (the test split)
        Assert.Single(notes.ToString().Trim().Split('\n'));                             // is not counted twice
        Assert.Equal("audioset", SourceLoader.Detect(csv));                // a bare path is recognised by its first comment
        Assert.Equal(s.Items.Count, SourceLoader.Open(csv + ",videos=" + P("as/v"), "test", new SkippedLog(null, TextWriter.Null), TextWriter.Null).Items.Count);

        // Multi-label targets go to the multilabel task; single-label tasks refuse a segment with two labels.
        TaskData.CheckLabels(s, DownstreamTask.Multilabel, "--data");
        Assert.Contains("--task multilabel", Assert.Throws<AvBert.Runtime.UserError>(() => TaskData.CheckLabels(s, DownstreamTask.Audio, "--data")).Message);
    }

    [Fact]
    public void Without_a_label_index_the_source_is_unlabeled_for_pretraining()
    {
        var csv = Layout.Write(_root, "u/unbalanced_train_segments.csv", Header + "abcdefghijk, 0.000, 10.000, \"/m/unknown\"\n");
        Layout.Touch(_root, "u/abcdefghijk_0_10.mp4");
        var s = SourceLoader.Open("audioset:" + csv);
        Assert.False(s.Labeled);
        Assert.Empty(s.Items.Single().Labels);
    }

    [Theory]
    [InlineData("abc, 30.000, 40.000, \"/m/nope\"\n", "balanced_train_segments.csv:4: label id '/m/nope' is not in")]
    [InlineData("abc, 30.000, 40.000, \"\"\n", "balanced_train_segments.csv:4: the segment has no label ids")]
    [InlineData("abc, 40.000, 30.000, \"/m/09x0r\"\n", "balanced_train_segments.csv:4: start_seconds '40.000' and end_seconds '30.000'")]
    [InlineData("abc, thirty, 40.000, \"/m/09x0r\"\n", "balanced_train_segments.csv:4: start_seconds 'thirty'")]
    [InlineData("abc, 30.000\n", "balanced_train_segments.csv:4: expected 'YTID, start_seconds, end_seconds")]
    [InlineData("x/y, 30.000, 40.000, \"/m/09x0r\"\n", "balanced_train_segments.csv:4: 'x/y' is not a YouTube id")]
    [InlineData("abc, 30.000, 40.000, \"/m/09x0r\"\nabc, 30.000, 40.000, \"/m/0ytgt\"\n", "balanced_train_segments.csv:5: duplicate of the row at")]
    public void Hostile_rows_are_one_line_errors_naming_file_and_line(string rows, string expected)
    {
        var csv = Segments(rows);
        Layout.Touch(_root, "as/abc.mp4");
        var e = Assert.Throws<SourceError>(() => SourceLoader.Open("audioset:" + csv));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void An_unquoted_label_list_and_an_uncommented_header_are_read_too()
    {
        var csv = Segments("YTID,start_seconds,end_seconds,positive_labels\nabc,0,10,/m/09x0r,/m/0ytgt\n");
        Layout.Touch(_root, "as/abc_0_10.mp4");
        Assert.Equal([0, 1], SourceLoader.Open("audioset:" + csv).Items.Single().Labels);
    }

    [Theory]
    [InlineData("index,mid,display_name\n0,/m/a,A\n0,/m/b,B\n", "index 0 appears twice")]
    [InlineData("index,mid,display_name\n0,/m/a,A\n2,/m/b,B\n", "the indices must be 0..1")]
    [InlineData("index,mid,display_name\n0,/m/a,A\n1,/m/a,B\n", "label id '/m/a' appears twice")]
    [InlineData("mid,display_name\n/m/a,A\n", "no 'index' column")]
    public void A_broken_label_index_is_refused(string index, string expected)
    {
        var labels = Layout.Write(_root, "bad/labels.csv", index);
        var csv = Layout.Write(_root, "bad/eval_segments.csv", Header + "abc, 0, 10, \"/m/a\"\n");
        Assert.Contains(expected, Assert.Throws<SourceError>(() => SourceLoader.Open($"audioset:{csv},labels={labels}")).Message);
    }

    [Fact]
    public void A_full_video_is_read_in_its_segment_window_and_a_cut_file_named_like_one_is_caught()
    {
        // A 6 s video downloaded whole: the clip reader samples inside 2–4 s.
        var csv = Segments("fullvideo01, 2.000, 4.000, \"/m/09x0r\"\n");
        TestMedia.Make(P("as"), "fullvideo01", new TestMediaSpec { Seconds = 6, Width = 64, Height = 48 });
        var cfg = ConfigLoader.Load("small", overrides: ["data.sequence_length=2"]).Data;
        var source = SourceLoader.Open("audioset:" + csv);
        var clips = new VideoSequenceDataset(source, cfg, SequenceOptions.Sequences(SampleMode.Test)).Load(0, 0, 0, default);
        Assert.All(clips.ClipStartSeconds, t => Assert.InRange(t, 2.0, 4.0));

        // The same 6 s file listed for 30–40 s is a cut segment under a bare name: one line saying trimmed=true ...
        var late = Segments("fullvideo01, 30.000, 40.000, \"/m/09x0r\"\n", "eval_segments.csv");
        Assert.Contains("trimmed=true", Assert.Throws<SourceError>(() => SourceLoader.Open("audioset:" + late)).Message);
        // ... which reads it whole.
        Assert.Null(SourceLoader.Open($"audioset:{late},trimmed=true").Items.Single().Start);
    }

    [Fact]
    public void Kinetics_sounds_is_shipped_and_keeps_exactly_its_classes()
    {
        var ks = AvBert.Data.Sources.SourceFiles.BuiltInClassList("kinetics_sounds")!
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Equal(32, ks.Count);
        Assert.Equal(32, ks.Distinct().Count());
        var others = new[] { "abseiling", "playing cello", "typing" };
        var rows = ks.Concat(others).Select((c, i) => $"\"{c}\",id{i:0000000},0,10,train\n");
        var csv = Layout.Write(_root, "k/train.csv", "label,youtube_id,time_start,time_end,split\n" + string.Concat(rows));
        foreach (var i in Enumerable.Range(0, ks.Count + others.Length)) Layout.Touch(_root, $"k/id{i:0000000}_000000_000010.mp4");

        var s = SourceLoader.Open($"kinetics:{csv},classes=kinetics_sounds");
        Assert.Equal(ks, s.ClassNames);
        Assert.Equal(32, s.Items.Count);
        Assert.Equal(Enumerable.Range(0, 32), s.Items.Select(i => i.Labels.Single()));

        // A custom list with a typo: one line naming the class and the closest label, not an empty class.
        var mine = Layout.Write(_root, "k/mine.txt", "playing drums\nplaying bagpipe\n");
        var e = Assert.Throws<SourceError>(() => SourceLoader.Open($"kinetics:{csv},classes={mine}"));
        Assert.Equal($"{mine}: class 'playing bagpipe' is not a label of {csv} (closest: 'playing bagpipes'). Fix: spell it as the CSV does, " +
                     "or remove it from the list.", e.Message);
        // A name that is neither a file nor a built-in list says which lists exist.
        Assert.Contains("kinetics_sounds", Assert.Throws<SourceError>(() => SourceLoader.Open($"kinetics:{csv},classes=kinetics_noises")).Message);
    }
}
