using Bunit;
using Microsoft.JSInterop;
using MudBlazor;
using MudBlazor.Services;
using SelfTune.Admin.Components.Shared;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// Every Copy button goes through <see cref="Clipboard.CopyAsync"/>: the user hears how it went, whether the browser
/// writes, refuses, or never answers.
/// </summary>
public sealed class CopyButtonTests : BunitContext, IAsyncLifetime
{
    Task IAsyncLifetime.InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services dispose only asynchronously; xunit awaits this before its synchronous Dispose.
    async Task IAsyncLifetime.DisposeAsync() => await base.DisposeAsync();

    public CopyButtonTests()
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices();
    }

    IRenderedComponent<ContainerFragment> RenderSnippet() => Render<ContainerFragment>(p => p.AddChildContent(builder =>
    {
        builder.OpenComponent<MudPopoverProvider>(0);
        builder.CloseComponent();
        builder.OpenComponent<MudSnackbarProvider>(1);
        builder.CloseComponent();
        builder.OpenComponent<CopyableSnippet>(2);
        builder.AddAttribute(3, nameof(CopyableSnippet.Text), "curl -s https://example.test");
        builder.AddAttribute(4, nameof(CopyableSnippet.What), "the curl command");
        builder.CloseComponent();
    }));

    [Fact]
    public async Task A_copy_the_browser_writes_says_so()
    {
        var write = JSInterop.SetupVoid("navigator.clipboard.writeText", i => (string?)i.Arguments[0] == "curl -s https://example.test");
        write.SetVoidResult();
        var page = RenderSnippet();
        await page.InvokeAsync(() => page.Find("[data-testid=snippet-copy]").Click());
        page.WaitForAssertion(() => Assert.Contains("Copied the curl command to the clipboard.", page.Markup));
    }

    [Fact]
    public async Task A_copy_the_browser_refuses_says_how_to_copy_by_hand()
    {
        JSInterop.SetupVoid("navigator.clipboard.writeText", _ => true).SetException(new JSException("Document is not focused."));
        var page = RenderSnippet();
        await page.InvokeAsync(() => page.Find("[data-testid=snippet-copy]").Click());
        page.WaitForAssertion(() => Assert.Contains("select the text and copy it by hand", page.Markup));
        Assert.DoesNotContain("Copied the curl command", page.Markup);
    }

    [Fact]
    public async Task A_copy_the_browser_does_not_answer_in_time_says_how_to_copy_by_hand()
    {
        // What the bounded call throws when its time is up (a TaskCanceledException): bUnit cannot leave a call pending.
        JSInterop.SetupVoid("navigator.clipboard.writeText", _ => true).SetCanceled();
        var page = RenderSnippet();
        await page.InvokeAsync(() => page.Find("[data-testid=snippet-copy]").Click());
        page.WaitForAssertion(() => Assert.Contains("select the text and copy it by hand", page.Markup));
    }
}
