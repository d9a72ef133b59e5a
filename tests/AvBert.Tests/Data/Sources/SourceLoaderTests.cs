using AvBert.Data;
using AvBert.Data.Sources;

namespace AvBert.Tests.Data.Sources;

public sealed class SourceLoaderTests : IDisposable
{
    readonly string _root = TestSetup.TempDir("sources");
    public void Dispose() => Directory.Delete(_root, true);
    string P(string rel) => Path.Combine(_root, rel);

    [Fact]
    public void Folder_lists_media_files_recursively_in_ordinal_order_and_ignores_other_files()
    {
        Layout.Touch(_root, "v/b.mp4"); Layout.Touch(_root, "v/a b/ü clip.MKV"); Layout.Touch(_root, "v/a b/notes.txt");
        Layout.Touch(_root, "v/.hidden.mp4"); Layout.Touch(_root, "v/sub/deep/x.wav");
        var s = SourceLoader.Open(P("v"));
        Assert.Equal([P("v/a b/ü clip.MKV"), P("v/b.mp4"), P("v/sub/deep/x.wav")], s.Items.Select(i => i.Path));
        Assert.All(s.Items, i => Assert.Empty(i.Labels));
        Assert.False(s.Labeled);
        Assert.Equal(s.Items.Select(i => i.Path), SourceLoader.Open("folder:" + P("v"), "test").Items.Select(i => i.Path));
    }

    [Fact]
    public void List_resolves_paths_relative_to_the_list_file_and_skips_comments()
    {
        var list = Layout.Write(_root, "lists/pretrain.txt", "# my videos\nclips/one.mp4\n\n/abs/two.webm\n  ../three.avi  \n");
        var s = SourceLoader.Open(list);
        Assert.Equal([P("lists/clips/one.mp4"), "/abs/two.webm", P("three.avi")], s.Items.Select(i => i.Path));
        Assert.Equal(s.Items.Count, SourceLoader.Open("list:" + list).Items.Count);
    }

    [Fact]
    public void Classes_are_subfolders_in_ordinal_order_and_train_test_subfolders_are_splits()
    {
        Layout.Touch(_root, "c/train/dog/1.mp4"); Layout.Touch(_root, "c/train/cat/2.mp4"); Layout.Touch(_root, "c/train/cat/3.mp4");
        Layout.Touch(_root, "c/test/dog/4.mp4"); Layout.Touch(_root, "c/test/bird/5.mp4");
        var train = SourceLoader.Open("classes:" + P("c"), "train");
        Assert.Equal(["bird", "cat", "dog"], train.ClassNames);  // union over splits: same indices everywhere
        Assert.Equal([(P("c/train/cat/2.mp4"), 1), (P("c/train/cat/3.mp4"), 1), (P("c/train/dog/1.mp4"), 2)],
                     train.Items.Select(i => (i.Path, i.Labels.Single())));
        var test = SourceLoader.Open("classes:" + P("c"), "test");
        Assert.Equal([0, 2], test.Items.Select(i => i.Labels.Single()));
        Assert.Equal(5, SourceLoader.Open("classes:" + P("c"), "all").Items.Count);
    }

    [Fact]
    public void Ucf101_reads_classInd_and_the_chosen_split_with_labels_from_class_folders()
    {
        Layout.Write(_root, "ucf/ucfTrainTestlist/classInd.txt", "1 ApplyEyeMakeup\n2 HandstandPushups\n3 YoYo\n");
        Layout.Write(_root, "ucf/ucfTrainTestlist/trainlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nYoYo/v_YoYo_g09_c02.avi 3\n");
        Layout.Write(_root, "ucf/ucfTrainTestlist/testlist01.txt", "HandStandPushups/v_HandStandPushups_g01_c01.avi\n");
        Layout.Write(_root, "ucf/ucfTrainTestlist/trainlist02.txt", "YoYo/v_YoYo_g01_c01.avi 3\n");
        Directory.CreateDirectory(P("ucf/UCF-101"));
        var train = SourceLoader.Open(P("ucf")); // auto-detected
        Assert.Equal(["ApplyEyeMakeup", "HandstandPushups", "YoYo"], train.ClassNames);
        Assert.Equal([(P("ucf/UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"), 0), (P("ucf/UCF-101/YoYo/v_YoYo_g09_c02.avi"), 2)],
                     train.Items.Select(i => (i.Path, i.Labels.Single())));
        var test = SourceLoader.Open("ucf101:" + P("ucf"), "test");
        Assert.Equal(1, test.Items.Single().Labels.Single()); // "HandStandPushups" folder matched case-insensitively
        Assert.Equal(P("ucf/UCF-101/YoYo/v_YoYo_g01_c01.avi"), SourceLoader.Open("ucf101:" + P("ucf") + ",fold=2").Items.Single().Path);
    }

    [Fact]
    public void Esc50_holds_out_the_chosen_fold_orders_classes_by_target_and_marks_audio_only()
    {
        Layout.Write(_root, "esc/meta/esc50.csv",
            "filename,fold,target,category,esc10,src_file,take\n" +
            "1-100032-A-0.wav,1,0,dog,True,100032,A\n" +
            "1-100038-A-14.wav,1,14,chirping_birds,False,100038,A\n" +
            "2-100648-A-43.wav,2,43,chainsaw,False,100648,A\n" +
            "3-1-A-1.wav,3,1,rooster,True,1,A\n");
        var train = SourceLoader.Open(P("esc"));
        Assert.True(train.AudioOnly);
        Assert.Equal(["dog", "rooster", "chirping_birds", "chainsaw"], train.ClassNames);
        Assert.Equal([(P("esc/audio/2-100648-A-43.wav"), 3, 2), (P("esc/audio/3-1-A-1.wav"), 1, 3)],
                     train.Items.Select(i => (i.Path, i.Labels.Single(), i.Fold!.Value)));
        Assert.Equal(2, SourceLoader.Open("esc50:" + P("esc"), "test").Items.Count);
        Assert.Equal([P("esc/audio/2-100648-A-43.wav")], SourceLoader.Open("esc50:" + P("esc") + ",fold=2", "test").Items.Select(i => i.Path));
        var esc10 = SourceLoader.Open("esc50:" + P("esc") + ",esc10=true", "all");
        Assert.Equal(["dog", "rooster"], esc10.ClassNames);
        Assert.Equal([0, 1], esc10.Items.Select(i => i.Labels.Single()));
    }

    [Fact]
    public void Kinetics_finds_trimmed_and_untrimmed_videos_filters_the_split_and_restricts_classes()
    {
        var csv = Layout.Write(_root, "k/train.csv",
            "label,youtube_id,time_start,time_end,split,is_cc\n" +
            "\"passing American football (in game)\",abc123,10,20,train,0\n" +
            "abseiling,--07WQ2iBlw,1,11,train,0\n" +
            "abseiling,zzz,5,15,validate,0\n" +
            "playing drums,gone,0,10,train,0\n");
        Layout.Touch(_root, "k/videos/passing American football (in game)/abc123_000010_000020.mp4");
        Layout.Touch(_root, "k/videos/--07WQ2iBlw.mkv");
        var s = SourceLoader.Open(csv + ",videos=" + P("k/videos"));
        Assert.Equal(["abseiling", "passing American football (in game)", "playing drums"], s.ClassNames);
        Assert.Equal(3, s.Items.Count);
        var trimmed = s.Items[0];
        Assert.Equal((P("k/videos/passing American football (in game)/abc123_000010_000020.mp4"), 1, (double?)null), (trimmed.Path, trimmed.Labels.Single(), trimmed.Start));
        var untrimmed = s.Items[1];
        Assert.Equal((P("k/videos/--07WQ2iBlw.mkv"), 0, 1.0, 11.0), (untrimmed.Path, untrimmed.Labels.Single(), untrimmed.Start!.Value, untrimmed.End!.Value));
        Assert.Equal(P("k/videos/gone_000000_000010.mp4"), s.Items[2].Path); // missing: kept without a SkippedLog...

        var log = new SkippedLog(null, TextWriter.Null);
        var dropped = SourceLoader.Open("kinetics:" + csv + ",videos=" + P("k/videos"), "train", log);  // ...dropped and reported with one
        Assert.Equal(2, dropped.Items.Count);
        Assert.Equal(1, dropped.MissingFiles);
        Assert.Contains("file not found", log.Items.Single().Reason);

        Assert.Equal("zzz", Path.GetFileName(SourceLoader.Open(csv + ",videos=" + P("k/videos"), "val").Items.Single().Path)[..3]);
        var sounds = Layout.Write(_root, "k/sounds.txt", "playing drums\nabseiling\n");
        var ks = SourceLoader.Open(csv + ",videos=" + P("k/videos") + ",classes=" + sounds);
        Assert.Equal(["playing drums", "abseiling"], ks.ClassNames);
        Assert.Equal([1, 0], ks.Items.Select(i => i.Labels.Single()));
    }

    /// <summary>context=S (the paper's 30-s pretraining clips): an untrimmed video's row is widened to S seconds around the
    /// middle of its segment, starting at 0 at the earliest; trimmed clips and segments already longer stay as they are.</summary>
    [Fact]
    public void Kinetics_context_widens_an_untrimmed_rows_segment_around_its_middle()
    {
        var csv = Layout.Write(_root, "kc/train.csv",
            "label,youtube_id,time_start,time_end,split\n" +
            "a,early,1,11,train\n" + "a,late,40,50,train\n" + "b,long,0,45,train\n" + "b,cut,10,20,train\n");
        foreach (var f in new[] { "early.mp4", "late.mp4", "long.mp4", "cut_000010_000020.mp4" }) Layout.Touch(_root, "kc/v/" + f);
        var s = SourceLoader.Open(csv + ",videos=" + P("kc/v") + ",context=30");
        Assert.Equal([(0.0, 30.0), (30.0, 60.0), (0.0, 45.0)], s.Items.Take(3).Select(i => (i.Start!.Value, i.End!.Value)));
        Assert.Null(s.Items[3].Start);   // a trimmed clip holds only its 10 s
        Assert.Equal((40.0, 50.0), SourceLoader.Open(csv + ",videos=" + P("kc/v")).Items.Select(i => (i.Start!.Value, i.End!.Value)).ElementAt(1));
        foreach (var bad in new[] { "0", "-5", "abc", "nan" })
            Assert.Contains($"option context={bad} must be a number of seconds > 0",
                            Assert.Throws<SourceError>(() => SourceLoader.Open(csv + ",videos=" + P("kc/v") + ",context=" + bad)).Message);
    }

    [Fact]
    public void Charades_is_multi_label_with_time_spans_and_class_names_from_the_classes_file()
    {
        Layout.Write(_root, "ch/Charades_v1_classes.txt", "c000 Holding some clothes\nc001 Putting clothes somewhere\nc002 Taking a laptop\n");
        Layout.Write(_root, "ch/Charades_v1_train.csv",
            "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n" +
            "46GP8,HR43,Kitchen,6,7,Yes,\"A person cooks, then eats.\",food;dish,\"desc\",c002 11.90 21.20;c000 0.00 12.60;c002 25.0 30.0,24.83\n" +
            "N11GT,0KZ7,Stairs,6,7,Yes,script,,desc,,17.38\n");
        Layout.Write(_root, "ch/Charades_v1_test.csv", "id,actions,length\nX1,c001 1 2,5\n");
        Layout.Touch(_root, "ch/Charades_v1_480/46GP8.mp4");
        var s = SourceLoader.Open(P("ch"));
        Assert.True(s.MultiLabel);
        Assert.Equal(["Holding some clothes", "Putting clothes somewhere", "Taking a laptop"], s.ClassNames);
        Assert.Equal(P("ch/Charades_v1_480/46GP8.mp4"), s.Items[0].Path);
        Assert.Equal([0, 2], s.Items[0].Labels);
        Assert.Equal([new LabelSpan(2, 11.9, 21.2), new LabelSpan(0, 0, 12.6), new LabelSpan(2, 25, 30)], s.Items[0].Spans!);
        Assert.Empty(s.Items[1].Labels);
        Assert.Equal([1], SourceLoader.Open("charades:" + P("ch"), "test").Items.Single().Labels);
    }

    [Fact]
    public void Csv_reads_path_and_labels_with_or_without_a_header()
    {
        var named = Layout.Write(_root, "g/data.csv", "path,labels,split,start,end\n" +
                                                      "a.mp4,dog;cat,train,,\n\"b, c.mp4\",bird,train,1.5,4\nz.mp4,dog,test,,\n");
        var s = SourceLoader.Open(named);
        Assert.True(s.MultiLabel);
        Assert.Equal(["bird", "cat", "dog"], s.ClassNames);
        Assert.Equal([1, 2], s.Items[0].Labels);
        Assert.Equal((P("g/b, c.mp4"), 1.5, 4.0), (s.Items[1].Path, s.Items[1].Start!.Value, s.Items[1].End!.Value));
        Assert.Equal(2, s.Items.Count);

        var bare = Layout.Write(_root, "g/plain.csv", "x/1.mp4,2\nx/2.mp4,0\n");
        var b = SourceLoader.Open("csv:" + bare + ",root=/media");
        Assert.Equal(["0", "1", "2"], b.ClassNames); // whole numbers are indices
        Assert.Equal([("/media/x/1.mp4", 2), ("/media/x/2.mp4", 0)], b.Items.Select(i => (i.Path, i.Labels.Single())));
        Assert.False(b.MultiLabel);
    }

    [Fact]
    public void Malformed_sources_are_user_errors_naming_file_and_line()
    {
        Layout.Write(_root, "bad/ucfTrainTestlist/classInd.txt", "1 A\n3 C\n");
        var e = Assert.Throws<SourceError>(() => SourceLoader.Open(P("bad")));
        Assert.Contains("classInd.txt:2", e.Message);
        Assert.Throws<SourceError>(() => SourceLoader.Open(P("does-not-exist")));
        Assert.Throws<SourceError>(() => SourceLoader.Open("ucf101:" + P("bad") + ",fold=7"));
        var typo = Assert.Throws<SourceError>(() => SourceLoader.Open("esc50:" + P("bad") + ",flod=2"));
        Assert.Contains("flod", typo.Message);
        var k = Layout.Write(_root, "bad.csv", "label,youtube_id,time_start,time_end,split\nx,id,ten,20,train\n");
        Assert.Contains("bad.csv:2", Assert.Throws<SourceError>(() => SourceLoader.Open(k)).Message);
        Assert.Contains("unknown data source kind", Assert.Throws<SourceError>(() => SourceLoader.Open("kinetic:" + k)).Message);
    }

    [Fact]
    public void A_bare_folder_of_class_subfolders_opens_labeled_where_labels_are_needed_and_says_so()
    {
        Layout.Touch(_root, "pets/dog/1.mp4"); Layout.Touch(_root, "pets/cat/2.mp4"); Layout.Touch(_root, "pets/cat/deep/3.mp4");
        Layout.Touch(_root, "pets/.cache/x.mp4"); Layout.Touch(_root, "pets/readme.txt");
        var log = new StringWriter();
        var s = SourceLoader.OpenLabeled(P("pets"), "train", log: log);
        Assert.Equal(["cat", "dog"], s.ClassNames);
        Assert.Equal([0, 0, 1], s.Items.Select(i => i.Labels.Single()));
        var line = Assert.Single(log.ToString().TrimEnd().Split('\n'));
        Assert.Contains("read as a folder per class (2 classes: cat, dog)", line);
        Assert.Contains("classes:" + P("pets"), line);
        Assert.False(SourceLoader.Open(P("pets")).Labeled);                               // where labels are not needed: unlabeled
        Assert.False(SourceLoader.OpenLabeled("folder:" + P("pets")).Labeled);            // an explicit kind is kept

        // Loose media beside the subfolders, or a single subfolder: a plain folder, not classes.
        Layout.Touch(_root, "loose/a.mp4"); Layout.Touch(_root, "loose/x/b.mp4"); Layout.Touch(_root, "loose/y/c.mp4");
        Layout.Touch(_root, "one/x/a.mp4");
        var quiet = new StringWriter();
        Assert.False(SourceLoader.OpenLabeled(P("loose"), log: quiet).Labeled);
        Assert.False(SourceLoader.OpenLabeled(P("one"), log: quiet).Labeled);
        Assert.Equal("", quiet.ToString());
    }

    [Fact]
    public void A_class_folder_with_only_a_train_subfolder_has_no_test_split_rather_than_a_class_named_train()
    {
        Layout.Touch(_root, "t/train/dog/1.mp4"); Layout.Touch(_root, "t/train/cat/2.mp4");
        var train = SourceLoader.Open("classes:" + P("t"), "train");
        Assert.Equal(["cat", "dog"], train.ClassNames);
        Assert.Contains("no 'test'", Assert.Throws<SourceError>(() => SourceLoader.Open("classes:" + P("t"), "test")).Message);
    }

    [Fact]
    public void A_stray_numeric_label_is_an_error_naming_the_row_not_a_hundred_thousand_classes()
    {
        var csv = Layout.Write(_root, "n/data.csv", "path,label\na.mp4,0\nb.mp4,1\nc.mp4,100000\n");
        var e = Assert.Throws<SourceError>(() => SourceLoader.Open(csv));
        Assert.Contains("data.csv:4", e.Message);
        Assert.Contains("100000", e.Message);
        var huge = Layout.Write(_root, "n/huge.csv", "a.mp4,0\nb.mp4,2147483647\n");
        Assert.Contains("huge.csv:2", Assert.Throws<SourceError>(() => SourceLoader.Open("csv:" + huge)).Message);
        var classes = Layout.Write(_root, "n/classes.txt", "zero\none\n");
        var named = Layout.Write(_root, "n/named.csv", "path,label\na.mp4,one\nb.mp4,two\n");
        Assert.Contains("named.csv:3", Assert.Throws<SourceError>(() => SourceLoader.Open($"csv:{named},classes={classes}")).Message);
    }

    [Fact]
    public void Csv_classes_come_from_every_split_so_indices_agree_between_train_and_test()
    {
        var csv = Layout.Write(_root, "s/data.csv", "path,label,split\na.mp4,cat,train\nb.mp4,dog,test\nc.mp4,7,train\n");
        var train = SourceLoader.Open(csv, "train");
        var test = SourceLoader.Open(csv, "test");
        Assert.Equal(train.ClassNames, test.ClassNames);
        Assert.Equal(train.ClassNames.ToList().IndexOf("dog"), test.Items.Single().Labels.Single());
    }

    [Fact]
    public void Unlabeled_rows_in_a_labelled_csv_are_errors_naming_the_row()
    {
        var csv = Layout.Write(_root, "u/data.csv", "path,label\na.mp4,cat\nb.mp4,\n");
        Assert.Contains("data.csv:3", Assert.Throws<SourceError>(() => SourceLoader.Open(csv)).Message);
        var bare = Layout.Write(_root, "u/bare.csv", "a.mp4,cat\nb.mp4\n");
        Assert.Contains("bare.csv:2", Assert.Throws<SourceError>(() => SourceLoader.Open("csv:" + bare)).Message);
        var k = Layout.Write(_root, "u/k.csv", "label,youtube_id,time_start,time_end,split\nx,id1,0,10,train\n,id2,0,10,train\n");
        Assert.Contains("k.csv:3", Assert.Throws<SourceError>(() => SourceLoader.Open(k)).Message);
        var none = Layout.Write(_root, "u/none.csv", "path\na.mp4\nb.mp4\n"); // no labels at all: an unlabeled source
        Assert.False(SourceLoader.Open(none).Labeled);
    }

    [Fact]
    public void Duplicate_rows_are_errors_naming_both_rows()
    {
        var csv = Layout.Write(_root, "d/data.csv", "path,label\na.mp4,cat\nb.mp4,dog\n./a.mp4,cat\n");
        var e = Assert.Throws<SourceError>(() => SourceLoader.Open(csv));
        Assert.Contains("data.csv:4", e.Message);
        Assert.Contains("data.csv:2", e.Message);
        var list = Layout.Write(_root, "d/list.txt", "x.mp4\nsub/../x.mp4\n");
        Assert.Contains("list.txt:2", Assert.Throws<SourceError>(() => SourceLoader.Open(list)).Message);
        var segments = Layout.Write(_root, "d/seg.csv", "path,label,start,end\na.mp4,cat,0,5\na.mp4,cat,5,10\n");
        Assert.Equal(2, SourceLoader.Open(segments).Items.Count); // two segments of one file are two items
    }

    [Fact]
    public void A_symbolic_link_loop_in_a_data_folder_is_an_error_not_endless_copies()
    {
        Layout.Touch(_root, "loop/a/1.mp4"); Layout.Touch(_root, "loop/b/2.mp4");
        File.CreateSymbolicLink(P("loop/a/up"), "..");
        var e = Assert.Throws<SourceError>(() => SourceLoader.Open("classes:" + P("loop")));
        Assert.Contains("symbolic link loop", e.Message);
        Assert.Contains(P("loop/a/up"), e.Message);
        Assert.Throws<SourceError>(() => SourceLoader.Open("folder:" + P("loop")));
        // A link to a folder elsewhere is followed (and noted as outside the root).
        Layout.Touch(_root, "elsewhere/3.mp4");
        File.Delete(P("loop/a/up"));
        File.CreateSymbolicLink(P("loop/b/more"), P("elsewhere"));
        var notes = new StringWriter();
        var s = SourceLoader.Open("folder:" + P("loop"), notices: notes);
        Assert.Equal([P("loop/a/1.mp4"), P("loop/b/2.mp4"), P("loop/b/more/3.mp4")], s.Items.Select(i => i.Path));
        Assert.Contains("1 of 3 items", notes.ToString());
    }

    [Fact]
    public void Items_outside_the_root_are_used_and_said_once_in_one_line()
    {
        var list = Layout.Write(_root, "r/lists/l.txt", "in.mp4\n../out1.mp4\n/abs/out2.mp4\n");
        var notes = new StringWriter();
        var s = SourceLoader.Open(list, notices: notes);
        Assert.Equal(3, s.Items.Count);
        var lines = notes.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("note: 2 of 3 items", Assert.Single(lines)[..18]);
        var quiet = new StringWriter();
        SourceLoader.Open(Layout.Write(_root, "r/lists/in.txt", "in.mp4\nsub/x.mp4\n"), notices: quiet);
        Assert.Equal("", quiet.ToString());
    }
}
