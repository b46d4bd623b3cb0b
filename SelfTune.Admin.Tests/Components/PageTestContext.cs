using AngleSharp.Dom;
using System.Security.Claims;
using Bunit;
using Bunit.TestDoubles;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;
using SelfTune.Admin.Auth;
using SelfTune.Admin.Data;
using SelfTune.Admin.Tests.Infrastructure;

namespace SelfTune.Admin.Tests.Components;

/// <summary>
/// bUnit context for pages: MudBlazor services, loose JS interop (MudBlazor's popovers), a signed-in member, and the
/// real app's services (database, GitHub client, notifiers) as fallback, so a page reads and writes what the app does.
/// </summary>
public abstract class PageTestContext : BunitContext, IAsyncLifetime
{
    protected AdminAppFactory App { get; }
    protected BunitAuthorizationContext Auth { get; }
    readonly IServiceScope scope;

    /// <summary>
    /// How long bUnit waits for a render (WaitForAssertion, WaitForElement). It is one static of BunitContext for the
    /// whole assembly, so it is set here once: classes that each set their own (10, 15 or 30 s) left it to whichever ran
    /// last, and a page test that set none (a search on the Registry page, load 12-14 beside a build) got bUnit's 1 s
    /// default and failed. A passing test never waits it out.
    /// </summary>
    static PageTestContext() => DefaultWaitTimeout = TimeSpan.FromSeconds(30);

    Task IAsyncLifetime.InitializeAsync() => Task.CompletedTask;

    // MudBlazor's services dispose only asynchronously; xunit awaits this before its synchronous Dispose.
    async Task IAsyncLifetime.DisposeAsync()
    {
        await base.DisposeAsync();
        scope.Dispose();
    }

    protected PageTestContext(AdminAppFactory app)
    {
        App = app;
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices();
        // A scope of the app, like a circuit's: scoped services resolve as they do for a real page.
        scope = app.Services.CreateScope();
        Services.AddFallbackServiceProvider(scope.ServiceProvider);
        Auth = AddAuthorization();
    }

    /// <summary>Signs in as a member of <paramref name="orgId"/> with the claims the app's sign-in gives.</summary>
    protected void SignInAs(Guid orgId, MemberRole role = MemberRole.Owner, Plan plan = Plan.Pro, string name = "Dev Developer", Guid? memberId = null)
    {
        var actor = (memberId ?? Guid.NewGuid()).ToString();
        Auth.SetAuthorized(name);
        Auth.SetClaims(
            new Claim(ClaimTypes.NameIdentifier, actor),
            new Claim(SelfTuneClaims.OrgId, orgId.ToString()),
            new Claim(SelfTuneClaims.ActorId, actor),
            new Claim(SelfTuneClaims.Role, role.ToString()),
            new Claim(SelfTuneClaims.Plan, plan.ToString()),
            new Claim(SelfTuneClaims.OrgName, "Acme"));
    }

    /// <summary>Finds and clicks in one renderer turn, so a render in between (a live update, a popover) cannot swap the element's handler.</summary>
    protected static Task ClickAsync<T>(IRenderedComponent<T> page, Func<IElement> find) where T : IComponent => page.InvokeAsync(() => find().Click());

    protected static Task ClickAsync<T>(IRenderedComponent<T> page, string testId) where T : IComponent => ClickAsync(page, () => page.Find($"[data-testid={testId}]"));

    /// <summary>Finds and types into a field in one renderer turn (as <see cref="ClickAsync{T}(IRenderedComponent{T}, Func{IElement})"/>).</summary>
    protected static Task InputAsync<T>(IRenderedComponent<T> page, Func<IElement> find, string value) where T : IComponent =>
        page.InvokeAsync(() => find().Input(value));

    /// <summary>Renders <typeparamref name="TPage"/> with the providers MainLayout gives it (dialogs, popovers, snackbars).</summary>
    protected IRenderedComponent<ContainerFragment> RenderPage<TPage>(params (string Name, object? Value)[] parameters)
        where TPage : IComponent =>
        Render<ContainerFragment>(p => p.AddChildContent(builder =>
        {
            builder.OpenComponent<MudPopoverProvider>(0);
            builder.CloseComponent();
            builder.OpenComponent<MudDialogProvider>(1);
            builder.CloseComponent();
            builder.OpenComponent<MudSnackbarProvider>(2);
            builder.CloseComponent();
            builder.OpenComponent<TPage>(3);
            foreach (var (name, value) in parameters) builder.AddAttribute(4, name, value);
            builder.CloseComponent();
        }));

    /// <summary>
    /// The page's rows of <typeparamref name="TRow"/> now; <c>AssertNotRenderedAgain</c> then checks that
    /// a row shown again is the same component and rendered no more times since.
    /// </summary>
    protected static KeptRows<TRow> RowsOf<TRow>(IRenderedComponent<ContainerFragment> page, Func<TRow, object> key) where TRow : class, IComponent =>
        new(page.FindComponents<TRow>().ToDictionary(r => key(r.Instance), r => (r.Instance, r.RenderCount)), key);

    protected sealed class KeptRows<TRow>(Dictionary<object, (TRow Instance, int Renders)> before, Func<TRow, object> key) where TRow : class, IComponent
    {
        public void AssertNotRenderedAgain(IEnumerable<IRenderedComponent<TRow>> rows)
        {
            foreach (var row in rows)
            {
                var (instance, renders) = before[key(row.Instance)];
                Assert.Same(instance, row.Instance);
                Assert.Equal(renders, row.RenderCount);
            }
        }
    }
}

/// <summary>A neutral wrapper component to host a page and its providers.</summary>
public sealed class ContainerFragment : ComponentBase
{
    [Parameter] public RenderFragment? ChildContent { get; set; }
    protected override void BuildRenderTree(Microsoft.AspNetCore.Components.Rendering.RenderTreeBuilder builder) => builder.AddContent(0, ChildContent);
}

