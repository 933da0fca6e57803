import { ServerLive } from "./http/Server.ts"
import { launch } from "./launch.ts"

launch(ServerLive)
