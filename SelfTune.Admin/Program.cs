using SelfTune.Admin.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddSelfTuneAdmin();

var app = builder.Build();
app.UseSelfTuneAdmin();
await app.InitializeDatabaseAsync();
app.Run();

/// <summary>Visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
