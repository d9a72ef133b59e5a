using System.Text;
using AvBert.Runtime;
using AvBert.Storage;
using static TorchSharp.torch;

namespace AvBert.Tests.Storage;

public class SafetensorsFileTests
{
    /// <summary>A safetensors file from a literal header and data section (to build broken ones).</summary>
    static string Raw(string name, string header, byte[] data, ulong? claimedLength = null)
    {
        var path = Path.Combine(TestSetup.TempDir("st"), name);
        var h = Encoding.UTF8.GetBytes(header);
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes(claimedLength ?? (ulong)h.Length));
        fs.Write(h);
        fs.Write(data);
        return path;
    }

    static UserError Refused(string path, Action<string>? read = null)
    {
        var e = Assert.ThrowsAny<UserError>(() => (read ?? (p => SafetensorsFile.ReadAll(p)))(path));
        Assert.Contains(path, e.Message);
        Assert.Equal(ExitCodes.UserError, e.ExitCode);
        return e;
    }

    [Fact]
    public void Writes_and_reads_back_every_dtype_bit_for_bit()
    {
        var path = Path.Combine(TestSetup.TempDir("st-rt"), "all.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 4), ["f64"] = randn(2, dtype: float64), ["f16"] = randn(5).to(float16), ["bf16"] = randn(5).to(bfloat16),
            ["i64"] = arange(6, dtype: int64).reshape(2, 3), ["i32"] = arange(4, dtype: int32), ["u8"] = arange(7, dtype: ScalarType.Byte),
            ["bool"] = tensor(new[] { true, false, true }), ["empty"] = zeros(0, 3), ["scalar"] = tensor(2.5f),
        };
        SafetensorsFile.Write(path, tensors);
        Assert.Equal(0UL, BitConverter.ToUInt64(File.ReadAllBytes(path), 0) % 8);   // data section aligned, as the reference writer does
        var back = SafetensorsFile.ReadAll(path);
        Assert.Equal(tensors.Keys, back.Keys);
        foreach (var (k, t) in tensors)
        {
            Assert.Equal(t.dtype, back[k].dtype);
            Assert.Equal(t.shape, back[k].shape);
            Assert.True(t.equal(back[k]).all().item<bool>(), k);
        }
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, ".*"));   // no temporary file left
    }

    [Fact]
    public void Reads_files_of_the_other_writers_model_directories_were_made_with()
    {
        // Model directories and outputs written before this codec came from TorchSharp.PyBridge; reference files from Python.
        var path = Path.Combine(TestSetup.TempDir("st-pybridge"), "w.safetensors");
        var tensors = new Dictionary<string, Tensor> { ["a.weight"] = randn(4, 3), ["a.num_batches_tracked"] = tensor(5L), ["b"] = randn(2, dtype: float64) };
        TorchSharp.PyBridge.Safetensors.SaveStateDict(path, tensors);
        var back = SafetensorsFile.ReadAll(path);
        foreach (var (k, t) in tensors) Assert.True(t.equal(back[k]).all().item<bool>(), k);

        var io = SafetensorsFile.ReadAll(Path.Combine(TestSetup.ReferenceDir, "tiny-a.io.safetensors"), new SafetensorsReadOptions { RequireFinite = false });
        Assert.Contains("input.visual", io.Keys);
    }

    [Fact]
    public void A_header_length_beyond_the_file_is_refused_without_allocating_it()
    {
        var path = Raw("huge.safetensors", "{}", [], claimedLength: 2UL << 30);
        var e = Refused(path);
        Assert.Contains("2,147,483,648", e.Message);
        Assert.Contains("truncated", e.Message);
        var tiny = Path.Combine(TestSetup.TempDir("st-tiny"), "tiny.safetensors");
        File.WriteAllBytes(tiny, [1, 2, 3]);
        Assert.Contains("3 bytes", Refused(tiny, p => SafetensorsFile.Open(p)).Message);
    }

    [Fact]
    public void Garbled_json_and_bad_entries_are_refused_naming_the_tensor()
    {
        Assert.Contains("JSON", Refused(Raw("garbled.safetensors", "{\"a\": {\"dtype\": ", [])).Message);
        var e = Refused(Raw("dtype.safetensors", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", new byte[2]));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("F8_E4M3", e.Message);
        e = Refused(Raw("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("12", e.Message);   // [3] of F32 needs 12 bytes
    }

    [Fact]
    public void Offsets_out_of_range_overlapping_or_with_gaps_are_refused()
    {
        var e = Refused(Raw("range.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("outside", e.Message);
        e = Refused(Raw("overlap.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]));
        Assert.Contains("overlaps", e.Message);
        Assert.Contains("'b'", e.Message);
        e = Refused(Raw("gap.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", new byte[12]));
        Assert.Contains("'b'", e.Message);
        Assert.Contains("unused", e.Message);
    }

    [Fact]
    public void A_dtype_other_than_the_model_needs_is_refused_not_converted()
    {
        var target = new Dictionary<string, Tensor> { ["w"] = zeros(2, 2) };
        var path = Path.Combine(TestSetup.TempDir("st-dtype"), "w.safetensors");
        SafetensorsFile.Write(path, new Dictionary<string, Tensor> { ["w"] = ones(2, 2, dtype: float64) });
        var e = Refused(path, p => SafetensorsFile.LoadInto(target, p, "fix it."));
        Assert.Contains("'w' is F64 but the model needs F32", e.Message);
        Assert.Equal(0, target["w"].sum().item<float>());
    }

    [Fact]
    public void Non_finite_weights_are_refused_naming_the_tensor()
    {
        var path = Path.Combine(TestSetup.TempDir("st-nan"), "w.safetensors");
        SafetensorsFile.Write(path, new Dictionary<string, Tensor> { ["ok"] = ones(3), ["bad"] = tensor(new[] { 1f, float.NaN, float.PositiveInfinity }) });
        var e = Refused(path, p => SafetensorsFile.LoadInto(new Dictionary<string, Tensor> { ["ok"] = zeros(3), ["bad"] = zeros(3) }, p, "fix it."));
        Assert.Contains("'bad'", e.Message);
        Assert.Contains("2 non-finite", e.Message);
        // Data files may hold NaN when the reader says so.
        Assert.True(SafetensorsFile.ReadAll(path, new SafetensorsReadOptions { RequireFinite = false })["bad"].isnan().any().item<bool>());
    }
}
