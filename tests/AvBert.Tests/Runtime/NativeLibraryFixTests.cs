using AvBert.Runtime;
using TorchSharp;

namespace AvBert.Tests.Runtime;

public class NativeLibraryFixTests
{
    [Fact]
    public void Torch_runs_after_the_fix()
    {
        using var t = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        Assert.Equal(15f, t.sum().item<float>());
    }

    [Fact]
    public void Loaded_library_has_no_hard_need_the_system_libstdcxx_cannot_meet()
    {
        var lib = NativeLibraryFix.FindTorchSharpNative();
        Assert.NotNull(lib);
        var needs = ElfVersionNeeds.Read(lib!);
        Assert.Contains(needs, n => n.File == "libstdc++.so.6"); // the table was really parsed
        var hard = needs.Where(n => n.File == "libstdc++.so.6" && !n.IsWeak && !NativeLibraryFix.SystemLibStdCxxHas(n.Version)).ToList();
        Assert.Empty(hard);
    }

    [Fact]
    public void Mark_weak_is_targeted_and_idempotent()
    {
        var lib = NativeLibraryFix.FindTorchSharpNative()!;
        var dir = TestSetup.TempDir("elf");
        var copy = Path.Combine(dir, "lib.so");
        File.Copy(lib, copy);
        // Undo the fix on the copy to get the shipped state back.
        var shipped = ElfVersionNeeds.Read(copy).Single(n => n.Version == NativeLibraryFix.MissingVersion);
        using (var fs = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = shipped.FlagsOffset;
            fs.Write(BitConverter.GetBytes((ushort)(shipped.Flags & ~ElfVersionNeed.WeakFlag)));
        }
        var before = ElfVersionNeeds.Read(copy);
        Assert.False(before.Single(n => n.Version == NativeLibraryFix.MissingVersion).IsWeak);

        Assert.Equal(1, ElfVersionNeeds.MarkWeak(copy, NativeLibraryFix.MissingVersion));
        Assert.Equal(0, ElfVersionNeeds.MarkWeak(copy, NativeLibraryFix.MissingVersion));
        var after = ElfVersionNeeds.Read(copy);
        Assert.True(after.Single(n => n.Version == NativeLibraryFix.MissingVersion).IsWeak);
        // Every other entry is untouched.
        Assert.Equal(before.Where(n => n.Version != NativeLibraryFix.MissingVersion).Select(n => n.Flags),
                     after.Where(n => n.Version != NativeLibraryFix.MissingVersion).Select(n => n.Flags));
        Directory.Delete(dir, true);
    }
}
