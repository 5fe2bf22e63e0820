import { forgetToken, SignedOut, storedToken, storeToken } from './api.ts'
import { html, swap } from './html.ts'
import { calendarsPage } from './pages/calendars.ts'
import { crewCallPage } from './pages/crew-call.ts'
import { crewCallsPage } from './pages/crew-calls.ts'
import { overviewPage } from './pages/overview.ts'
import type { Page, Place } from './pages/page.ts'
import { webhooksPage } from './pages/webhooks.ts'

/** How often the page on screen re-reads its data. */
const REFRESH_MS = 3000

const main = document.getElementById('main') as HTMLElement
const nav = document.getElementById('nav') as HTMLElement
let page: Page | undefined
let body: HTMLElement | undefined
let timer: ReturnType<typeof setTimeout> | undefined
let generation = 0

function placeOf(hash: string): Place {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?', 2)
  return { path: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) }
}

function pageFor(place: Place): Page {
  const [section] = place.path
  if (section === 'crew-calls') return place.path.length >= 3 ? crewCallPage(place) : crewCallsPage(place)
  if (section === 'calendars') return calendarsPage(place)
  if (section === 'webhooks') return webhooksPage()
  return overviewPage()
}

function showSignIn(message?: string): void {
  page = undefined
  body = undefined
  nav.hidden = true
  document.title = 'Sign in · rostersync console'
  main.innerHTML = html`<h1>Sign in</h1>
    <form data-form="sign-in" class="sign-in">
      <p>Paste a service key or a user token (JWT). It is kept in this tab only (sessionStorage).</p>
      ${message ? html`<p class="refused" role="alert">${message}</p>` : ''}
      <label for="token">API token</label>
      <input id="token" name="token" type="password" required autocomplete="off" />
      <button type="submit">Sign in</button>
    </form>`.value
  delete main.dataset.rendered
  ;(document.getElementById('token') as HTMLInputElement).focus()
}

/** Enters the page the URL names: its controls once, then its body now and every REFRESH_MS. */
function enter(): void {
  clearTimeout(timer)
  generation++
  if (!storedToken()) {
    showSignIn()
    return
  }
  nav.hidden = false
  const place = placeOf(location.hash)
  page = pageFor(place)
  document.title = `${page.title} · rostersync console`
  for (const link of nav.querySelectorAll('a')) {
    const current = placeOf(link.getAttribute('href') ?? '').path[0] === (place.path[0] ?? undefined)
    if (current) link.setAttribute('aria-current', 'page')
    else link.removeAttribute('aria-current')
  }
  main.innerHTML =
    html`<h1>${page.title}</h1>${page.controls ?? ''}<div id="body" aria-live="polite"></div>`.value
  body = document.getElementById('body') as HTMLElement
  void refresh(generation)
}

async function refresh(own: number): Promise<void> {
  if (!page || !body || own !== generation) return
  try {
    const content = await page.body()
    if (own !== generation) return
    swap(body, content)
  } catch (error) {
    if (error instanceof SignedOut) {
      forgetToken()
      return showSignIn(`The token was refused (${error.message}). Sign in again.`)
    }
    // The server is unreachable or restarting: keep what is on screen, say so, try again.
    swap(body, html`<p class="refused" role="alert">Cannot reach the service: ${String(error)}</p>`)
  }
  clearTimeout(timer)
  if (own === generation) timer = setTimeout(() => void refresh(own), REFRESH_MS)
}

async function act(name: string, target: HTMLElement): Promise<void> {
  if (name === 'sign-out') {
    forgetToken()
    return enter()
  }
  const action = page?.actions?.[name]
  if (!action) return
  const own = generation
  const button = target instanceof HTMLButtonElement ? target : undefined
  if (button) button.disabled = true
  try {
    await action(target)
  } catch (error) {
    if (error instanceof SignedOut) {
      forgetToken()
      return showSignIn(`The token was refused (${error.message}). Sign in again.`)
    }
    throw error
  } finally {
    if (button) button.disabled = false
  }
  if (own === generation) await refresh(own)
}

document.addEventListener('click', (event) => {
  const target = (event.target as HTMLElement).closest<HTMLElement>('[data-action]')
  if (target?.dataset.action) void act(target.dataset.action, target)
})

document.addEventListener('submit', (event) => {
  const form = event.target as HTMLFormElement
  const name = form.dataset.form
  if (!name) return
  event.preventDefault()
  if (name === 'sign-in') {
    const token = (form.querySelector('input') as HTMLInputElement).value.trim()
    if (!token) return
    storeToken(token)
    return enter()
  }
  void act(name, form)
})

window.addEventListener('hashchange', enter)
enter()
